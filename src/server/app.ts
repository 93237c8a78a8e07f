import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type Logger, pino } from "pino";
import { type Auth, clientAddress } from "../auth/index.ts";
import type { ModelRegistry } from "../core/backend.ts";
import type { ChatService } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import { createDirectChatService } from "../gateway/direct-chat-service.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { MeteringServices } from "../metering/services.ts";
import { registerAuditRoutes } from "./admin/audit-route.ts";
import { registerBackendsRoute } from "./admin/backends-route.ts";
import { type ModelAdminOptions, registerModelAdminRoutes } from "./admin/models-route.ts";
import { type DescribedPolicyEngine, registerPolicyRoutes } from "./admin/policies-route.ts";
import { registerUsageRoutes } from "./admin/usage-route.ts";
import { isAnthropicPath, toAnthropicErrorBody } from "./anthropic/anthropic-error.ts";
import { registerAnthropicRoutes } from "./anthropic/register-anthropic-routes.ts";
import { exposedHeaders, finishHeaders } from "./app-headers.ts";
import { installAuth, protectedPaths } from "./auth-routes.ts";
import { errorBody, toErrorResponse } from "./error-response.ts";
import { createEmbeddingAccounting } from "./metered-embedding.ts";
import { registerMetricsRoute } from "./metrics-route.ts";
import { isOllamaPath, toOllamaErrorBody } from "./ollama/ollama-error.ts";
import {
  registerOllamaBodyRules,
  registerOllamaContentType,
  registerOllamaRoutes,
} from "./ollama/register-ollama-routes.ts";
import { createChatCompletionsHandler } from "./openai/chat-route.ts";
import { createEmbeddingsHandler } from "./openai/embeddings-route.ts";
import { createListModelsHandler, createRetrieveModelHandler } from "./openai/models-route.ts";
import { type DocumentRoutesOptions, registerDocumentRoutes } from "./openai/responses/document-routes.ts";
import { recordRefusals } from "./record-refusals.ts";
import { clip } from "./resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "./server-env.ts";
import { registerWebApp, type WebAppOptions } from "./web/index.ts";

export interface CreateAppOptions {
  registry: ModelRegistry;
  /** Runs chats; the registry directly when absent (no gateway). */
  chat?: ChatService;
  /** Where request and error logs go; silent when absent. */
  logger?: Logger;
  /** Largest accepted request body in bytes; larger ones get a 413. Default 4 MiB. */
  maxBodyBytes?: number;
  /** Bastion's version, shown in `system_fingerprint`. */
  version?: string;
  /** The web chat and console at `/` (with its conversation store); `false` serves no web app. */
  web?: WebAppOptions | false;
  /** `POST /admin/v1/models/pull` and `/admin/v1/models/{id}/unload`: the model pool and the hub to pull from. */
  models?: ModelAdminOptions;
  /** `GET /admin/v1/policies` and the dry run `POST /admin/v1/policies/check`; absent = no such routes. */
  policies?: { engine: DescribedPolicyEngine; defaultPolicy: string };
  /** Keys, sessions, limits and the admin API (src/auth/); absent = no auth, for unit tests of the wire layer. */
  auth?: Auth;
  /**
   * Usage, audit and metrics (src/metering/): mounts `/admin/v1/usage`, `/admin/v1/audit*` and
   * `/metrics`; the direct chat service (no `chat` given) is metered and audited through it. A
   * given `chat` (the gateway) reports to `metering.recorder` itself.
   */
  metering?: MeteringServices;
  /** Files, vector stores, responses and assistants (src/documents/); absent = none of those routes. */
  documents?: DocumentRoutesOptions;
  /** The gateway's backend list for `GET /admin/v1/backends` (`platform.backends`); absent = no such route. */
  backends?: Pick<Gateway, "backends">;
}

export const defaultMaxBodyBytes = 4 * 1024 * 1024;

/** Routes and the methods they answer; any other method on these paths is a 405. */
const routeMethods: Record<string, string> = {
  "/v1/chat/completions": "POST",
  "/v1/embeddings": "POST",
  "/v1/models": "GET, HEAD",
  "/v1/models/*": "GET, HEAD",
  "/health": "GET, HEAD",
  "/ready": "GET, HEAD",
};

/**
 * The Bastion HTTP app: the OpenAI-compatible API plus health probes. Every error, whatever its
 * origin, leaves as `{error: {message, type, param, code}}` with the status of the core table.
 */
export function createApp(options: CreateAppOptions): Hono<ServerEnv> {
  const logger = options.logger ?? pino({ level: "silent" });
  const deps: ServerDependencies = {
    registry: options.registry,
    chat:
      options.chat ??
      (options.metering === undefined
        ? createDirectChatService(options.registry)
        : options.metering.observe(createDirectChatService(options.registry))),
    logger,
    version: options.version ?? "dev",
  };
  if (options.auth !== undefined) deps.chat = options.auth.wrapChatService(deps.chat, options.registry);
  // Embeddings are charged to budgets and metered like chats (they do not go through the chat service).
  if (options.auth !== undefined || options.metering !== undefined)
    deps.embeddings = createEmbeddingAccounting({
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      ...(options.metering === undefined
        ? {}
        : { recorder: options.metering.recorder, costModel: options.metering.meter }),
      registry: options.registry,
    });
  // A request's budget is settled when metering records it, so that the settlement joins its
  // usage row and audit record in one SQLite commit (the chat wrapper still settles otherwise).
  if (options.auth !== undefined && options.metering !== undefined)
    options.metering.recorder.addObserver(options.auth.settler);
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const app = new Hono<ServerEnv>();

  const preflight = cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
    exposeHeaders: exposedHeaders,
    maxAge: 600,
  });
  // Request id, request logger and CORS headers in one middleware (one async frame per request).
  app.use(async (c, next) => {
    const started = performance.now();
    const requestId = acceptedRequestId(c.req.header("x-request-id")) ?? crypto.randomUUID();
    c.set("requestId", requestId);
    // A silent logger writes nothing: a child with the request id in its bindings would be built for nothing.
    const requestLogger = logger.level === "silent" ? logger : logger.child({ requestId });
    c.set("logger", requestLogger);
    let answer: Response | undefined;
    if (c.req.method === "OPTIONS") {
      c.header("X-Request-Id", requestId);
      answer = (await preflight(c, next)) ?? undefined;
    } else {
      // The CORS headers go on the finished response, as Hono's cors would set them: touching
      // `c.res` before `next()` makes Hono copy the handler's response into a new one, which turns
      // a JSON string body into a stream (an extra socket write and a web-stream pipe per request).
      await next();
      finishHeaders(c.res, requestId);
    }
    requestLogger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: (answer ?? c.res).status,
        ms: Math.round(performance.now() - started),
      },
      "request",
    );
    return answer;
  });
  const jsonBodyLimit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new BastionError(
        "payload_too_large",
        `The request body exceeds the limit of ${maxBodyBytes} bytes.`,
      );
    },
  });
  // The size limit holds before anything reads a body (the auth middleware reads model routes'
  // bodies for a key's model scope); the content type is checked only after the key (below).
  app.use("/v1/*", (c, next) => {
    // File uploads are multipart; their route checks the type and applies its own size limit.
    if (isUploadPath(c.req.path)) return next();
    // A declared length is checked as bodyLimit checks it, without it building a web Request and
    // stream over the body: the route then reads the bytes straight from the socket.
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      if (Number.parseInt(length, 10) > maxBodyBytes) {
        throw new BastionError(
          "payload_too_large",
          `The request body exceeds the limit of ${maxBodyBytes} bytes.`,
        );
      }
      return next();
    }
    return jsonBodyLimit(c, next);
  });
  registerOllamaBodyRules(app, { maxBodyBytes });

  if (options.metering !== undefined) {
    // Outside the auth middleware: its refusals are recorded before they leave.
    const trustProxy = options.auth?.settings.auth.trustProxy ?? false;
    const refusals = recordRefusals(options.metering.recorder, {
      clientAddress: (c) => clientAddress(c, trustProxy),
      logger,
    });
    for (const path of protectedPaths) app.use(path, refusals);
  }
  if (options.auth !== undefined) installAuth(app, options.auth);
  // After the key: a client without a valid one learns that it needs one (401), nothing else.
  app.use("/v1/*", (c, next) => {
    if (c.req.method === "POST" && !isUploadPath(c.req.path))
      assertJsonContentType(c.req.header("content-type"));
    return next();
  });
  registerOllamaContentType(app);
  if (options.metering !== undefined) {
    const authEnabled = options.auth?.enabled ?? false;
    const { usage, audit, metrics } = options.metering;
    registerUsageRoutes(app, { usage, authEnabled });
    if (audit !== undefined)
      registerAuditRoutes(app, {
        audit,
        verify: options.metering.verifyAudit,
        authEnabled,
        ...(options.auth === undefined ? {} : { store: options.auth.store }),
      });
    if (metrics !== undefined) registerMetricsRoute(app, { metrics, authEnabled });
  }
  if (options.documents !== undefined) registerDocumentRoutes(app, deps, options.documents);
  if (options.backends !== undefined) registerBackendsRoute(app, options.backends);
  app.post("/v1/chat/completions", createChatCompletionsHandler(deps));
  app.post("/v1/embeddings", createEmbeddingsHandler(deps));
  app.get("/v1/models", createListModelsHandler(deps));
  app.get("/v1/models/*", createRetrieveModelHandler(deps));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const readiness = deps.registry.readiness();
    if (readiness.ready) return c.json({ status: "ready" });
    return c.json({ status: "not_ready", reason: readiness.reason ?? "models are not ready" }, 503);
  });
  registerOllamaRoutes(app, deps);
  registerAnthropicRoutes(app, deps);
  if (options.web !== false) registerWebApp(app, deps, options.web ?? {});
  registerModelAdminRoutes(app, deps, options.models ?? {});
  if (options.policies !== undefined) registerPolicyRoutes(app, options.policies);

  for (const [path, allow] of Object.entries(routeMethods)) {
    app.all(path, (c) =>
      c.json(
        errorBody("method_not_allowed", `Method ${c.req.method} is not allowed on this path; use ${allow}.`),
        405,
        {
          Allow: allow,
        },
      ),
    );
  }

  app.notFound((c) =>
    c.json(errorBody("not_found", `Unknown route: ${c.req.method} ${clip(c.req.path)}.`), 404),
  );

  app.onError((error, c) => {
    const requestId = c.get("requestId");
    const response = toErrorResponse(error, requestId);
    const log = c.get("logger") ?? logger;
    if (response.unexpected) log.error({ err: error }, "request failed");
    else
      log.debug({ code: response.body.error.code, message: response.body.error.message }, "request refused");
    const status = response.status as ContentfulStatusCode;
    if (isOllamaPath(c.req.path)) return c.json(toOllamaErrorBody(response.body), status, response.headers);
    if (isAnthropicPath(c.req.path)) {
      return c.json(toAnthropicErrorBody(response, requestId), status, response.headers);
    }
    return c.json(response.body, status, response.headers);
  });

  return app;
}

/**
 * An `X-Request-Id` the client sent, kept as Hono's request-id middleware keeps it: at most 255
 * characters of letters, digits, `_`, `-` and `=`; anything else gets a generated id.
 */
function acceptedRequestId(header: string | undefined): string | undefined {
  if (header === undefined || header === "" || header.length > 255 || /[^\w\-=]/.test(header))
    return undefined;
  return header;
}

/** `POST /v1/files` takes multipart uploads under `documents.maxUploadBytes`. */
function isUploadPath(path: string): boolean {
  return path === "/v1/files";
}

function assertJsonContentType(header: string | undefined): void {
  // A missing content type is read as JSON: curl users forget the header and the body says enough.
  if (header === undefined) return;
  const mime = header.split(";")[0]!.trim().toLowerCase();
  if (mime === "application/json" || mime.endsWith("+json")) return;
  throw new BastionError(
    "unsupported_media_type",
    `Content-Type '${mime.slice(0, 100)}' is not supported; send 'application/json'.`,
  );
}
