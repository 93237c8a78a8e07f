import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BastionError } from "../../core/errors.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { createOllamaChatHandler } from "./ollama-chat-route.ts";
import { createOllamaEmbeddingsHandler, createOllamaEmbedHandler } from "./ollama-embed-route.ts";
import {
  createOllamaPsHandler,
  createOllamaShowHandler,
  createOllamaTagsHandler,
  createOllamaVersionHandler,
} from "./ollama-models-route.ts";

export interface OllamaRoutesOptions {
  /** Largest accepted request body in bytes; larger ones get a 413. */
  maxBodyBytes: number;
}

/** Ollama's routes and the methods they answer; any other method is a 405. */
export const ollamaRouteMethods: Record<string, string> = {
  "/api/chat": "POST",
  "/api/generate": "POST",
  "/api/embed": "POST",
  "/api/embeddings": "POST",
  "/api/show": "POST",
  "/api/tags": "GET, HEAD",
  "/api/ps": "GET, HEAD",
  "/api/version": "GET, HEAD",
};

/** Model management that Ollama clients may call; Bastion manages its models elsewhere. */
const managementRoutes: Record<string, string> = {
  "/api/pull": "Pull models with `bastion pull <model>` or POST /admin/v1/models/pull.",
  "/api/push": "Bastion does not push models to a registry.",
  "/api/create": "Add models to Bastion's configuration instead.",
  "/api/copy": "Give a model another name with an alias in Bastion's configuration.",
  "/api/delete": "Remove models with `bastion rm <model>`.",
};

/**
 * Content types an Ollama client may send with its JSON body. Ollama reads the body whatever the
 * header says: its documented `curl -d '{...}'` examples send `x-www-form-urlencoded`, and `fetch`
 * with a string body sends `text/plain`, so both are read as JSON too. Anything else (multipart
 * uploads, binary) is a 415.
 */
const textualJson = new Set(["application/json", "application/x-www-form-urlencoded", "text/plain"]);

function assertOllamaContentType(header: string | undefined): void {
  if (header === undefined) return;
  const mime = header.split(";")[0]!.trim().toLowerCase();
  if (textualJson.has(mime) || mime.endsWith("+json")) return;
  throw new BastionError(
    "unsupported_media_type",
    `Content-Type '${mime.slice(0, 100)}' is not supported; send 'application/json'.`,
  );
}

/**
 * The size limit of `/api/*` bodies. Mounted with the `/v1/*` rules, before the auth middleware,
 * which reads the body of model routes to check the key's model scope: the limit must hold before
 * anything reads it.
 */
export function registerOllamaBodyRules(app: Hono<ServerEnv>, options: OllamaRoutesOptions): void {
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => {
        throw new BastionError(
          "payload_too_large",
          `The request body exceeds the limit of ${options.maxBodyBytes} bytes.`,
        );
      },
    }),
  );
}

/**
 * The content type of `/api/*` bodies. Mounted after the auth middleware: a client without a valid
 * key learns that it needs one (401), not which types the server takes.
 */
export function registerOllamaContentType(app: Hono<ServerEnv>): void {
  app.use("/api/*", async (c, next) => {
    if (c.req.method === "POST") assertOllamaContentType(c.req.header("content-type"));
    await next();
  });
}

/**
 * Mounts Ollama's API under `/api/*`: chat and generate (NDJSON streams), embed, tags, show, ps
 * and version. Errors are answered in Ollama's `{"error": "..."}` shape by the app's error handler
 * (see `isOllamaPath`).
 */
export function registerOllamaRoutes(app: Hono<ServerEnv>, deps: ServerDependencies): void {
  // Ollama clients probe `GET /` or `HEAD /` (its CLI's heartbeat) before anything else. The web
  // app owns `/` when it is served; when nothing else answers, the probe gets Ollama's reply.
  app.get("/", async (c, next) => {
    await next();
    if (c.res.status === 404) c.res = c.text("Ollama is running");
  });
  app.post("/api/chat", createOllamaChatHandler(deps, "chat"));
  app.post("/api/generate", createOllamaChatHandler(deps, "generate"));
  app.post("/api/embed", createOllamaEmbedHandler(deps));
  app.post("/api/embeddings", createOllamaEmbeddingsHandler(deps));
  app.post("/api/show", createOllamaShowHandler(deps));
  app.get("/api/tags", createOllamaTagsHandler(deps));
  app.get("/api/ps", createOllamaPsHandler(deps));
  app.get("/api/version", createOllamaVersionHandler(deps));

  for (const [path, hint] of Object.entries(managementRoutes)) {
    app.all(path, (c) => c.json({ error: `${path} is not supported by Bastion. ${hint}` }, 501));
  }
  for (const [path, allow] of Object.entries(ollamaRouteMethods)) {
    app.all(path, (c) =>
      c.json({ error: `Method ${c.req.method} is not allowed on ${path}; use ${allow}.` }, 405, {
        Allow: allow,
      }),
    );
  }
}
