import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { BastionError, isBastionError } from "../../core/errors.ts";
import { pullModel } from "../../models/pull/pull.ts";
import { errorBody } from "../error-response.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";

/** What the unload route needs from the model pool. */
export interface ModelUnloader {
  isLoaded(id: string): boolean;
  /** Frees the model's memory once no request uses it; false when it was not loaded. */
  unload?(id: string): Promise<boolean>;
}

export interface ModelAdminOptions {
  /** The engine's model pool; without it, unload answers that nothing can be unloaded. */
  pool?: ModelUnloader;
  /** Hugging Face endpoint or mirror (the config's `hub.endpoint`, else `HF_ENDPOINT`). */
  hubEndpoint?: string | undefined;
  /** The model store; default the data directory's. */
  modelsDir?: string;
  /** For tests: the fetch the pull uses. */
  fetch?: typeof fetch;
  /** Serves a freshly pulled model at once (the platform's `serveModel`); without it, a restart does. */
  serve?: (id: string, path: string) => Promise<unknown>;
}

const pullSchema = z.strictObject({
  ref: z.string().trim().min(1, "name a model: a catalog id or a Hugging Face repo").max(500),
  id: z.string().min(1).max(200).optional(),
  force: z.boolean().optional(),
});

/** Only admins manage models; with auth off (no principal) the loopback caller is the admin. */
function assertAdmin(c: Context<ServerEnv>): void {
  const principal = c.get("principal");
  if (principal !== undefined && !principal.roles.includes("admin"))
    throw new BastionError("forbidden", "Managing models needs the admin role.");
}

/**
 * `POST /admin/v1/models/pull` streams the download's progress as server-sent events
 * (`progress`, then `done` or `error`); the client going away cancels the download.
 * `POST /admin/v1/models/{id}/unload` frees a loaded model's memory.
 */
export function registerModelAdminRoutes(
  app: Hono<ServerEnv>,
  deps: ServerDependencies,
  options: ModelAdminOptions = {},
): void {
  app.post("/admin/v1/models/pull", async (c) => {
    assertAdmin(c);
    const parsed = pullSchema.safeParse(await readJsonBody(c));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BastionError("invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`, {
        param: issue.path.join(".") || null,
      });
    }
    const body = parsed.data;
    const abort = new AbortController();
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => abort.abort());
      let last = 0;
      try {
        const result = await pullModel(body.ref, {
          endpoint: options.hubEndpoint,
          signal: abort.signal,
          ...(body.id === undefined ? {} : { id: body.id }),
          ...(body.force === undefined ? {} : { force: body.force }),
          ...(options.modelsDir === undefined ? {} : { modelsDir: options.modelsDir }),
          ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
          onProgress: (progress) => {
            // At most about four events a second, and always the last one of a file.
            const now = Date.now();
            if (progress.done !== true && now - last < 250) return;
            last = now;
            void stream.writeSSE({ event: "progress", data: JSON.stringify(progress) });
          },
        });
        let served = deps.registry.get(result.id) !== undefined;
        let why = "restart Bastion to serve it";
        if (!served && options.serve !== undefined) {
          try {
            await options.serve(result.id, result.path);
            served = true;
          } catch (error) {
            why = `it is not served: ${(error as Error).message}`;
            deps.logger.warn(
              { id: result.id, code: (error as BastionError).code },
              "pulled model not served",
            );
          }
        }
        await stream.writeSSE({
          event: "done",
          data: JSON.stringify({
            id: result.id,
            downloaded: result.downloaded,
            served,
            message: served
              ? `${result.id} is in the store and served.`
              : `${result.id} is in the store; ${why}.`,
          }),
        });
      } catch (error) {
        // Headers are gone: the failure becomes the stream's last event, in the API's error shape.
        const failure = isBastionError(error)
          ? errorBody(error.code, error.message)
          : errorBody("internal_error", `The pull failed: ${(error as Error).message}`);
        deps.logger.warn({ ref: body.ref.slice(0, 200), code: failure.error.code }, "model pull failed");
        await stream.writeSSE({ event: "error", data: JSON.stringify(failure) });
      }
    });
  });

  app.post("/admin/v1/models/:id{.+}/unload", async (c) => {
    assertAdmin(c);
    const id = c.req.param("id");
    const backend = deps.registry.get(id);
    if (backend === undefined)
      throw new BastionError("model_not_found", `No model "${id.slice(0, 200)}" is served.`);
    const modelId = backend.describe().id;
    if (options.pool?.unload === undefined)
      throw new BastionError("not_ready", "This server cannot unload models (no local model pool).");
    const unloaded = await options.pool.unload(modelId);
    return c.json({ id: modelId, object: "model", unloaded, loaded: options.pool.isLoaded(modelId) });
  });
}
