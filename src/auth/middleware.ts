import type { ServerResponse } from "node:http";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Logger } from "pino";
import type { BastionConfig } from "../config/config.ts";
import { BastionError } from "../core/errors.ts";
import { anonymousPrincipal, type Principal } from "../core/principal.ts";
import type { AuthContext, Authenticator } from "./authenticator.ts";
import { asBastionError, dialectErrorResponse } from "./dialect-error.ts";
import { allowedByScope, type PendingLimits } from "./limited-chat-service.ts";
import { type LimitScopes, RateLimitError, type RateLimits } from "./rate-limits.ts";

/** Name of the web session cookie. */
export const sessionCookie = "bastion_session";

/** Routes that run a model: counted against requests/min, tokens/min, concurrency and budgets. */
export const meteredRoutes: ReadonlySet<string> = new Set([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/messages",
  "/v1/responses",
  "/api/chat",
  "/api/generate",
  "/api/embed",
  "/api/embeddings",
]);

/** Model routes that do not run a chat (and so are not seen by the chat service's accounting). */
const embeddingRoutes: ReadonlySet<string> = new Set(["/v1/embeddings", "/api/embed", "/api/embeddings"]);

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** Largest body read to check a model-scoped key's `model` (the routes' own limits are lower by default). */
const maxPeekBytes = 64 * 1024 * 1024;

/** What the auth middleware reads and sets on the context (a subset of the server's environment). */
export interface AuthVariables {
  Variables: { requestId: string; logger: Logger; principal?: Principal };
}

const contexts = new WeakMap<Request, AuthContext>();

/** The resolved credential of a request (after the auth middleware ran), if any. */
export function authContextOf(c: Context): AuthContext | undefined {
  return contexts.get(c.req.raw);
}

/** The credential a request presents: a key (Bearer or `x-api-key`), else the session cookie. */
export function readCredential(c: Context): { kind: "key" | "session"; value: string } | undefined {
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match !== null) return { kind: "key", value: match[1]!.trim() };
  }
  const apiKey = c.req.header("x-api-key");
  if (apiKey !== undefined && apiKey.trim() !== "") return { kind: "key", value: apiKey.trim() };
  const cookie = getCookie(c, sessionCookie);
  if (cookie !== undefined && cookie !== "") return { kind: "session", value: cookie };
  return undefined;
}

/** The client's address, for sign-in throttling: `x-forwarded-for` only when the proxy is trusted. */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded !== undefined && forwarded !== "") return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

export interface AuthMiddlewareOptions {
  enabled: boolean;
  authenticator: Authenticator;
  rateLimits: RateLimits;
  pending: WeakMap<Principal, PendingLimits>;
  limits: BastionConfig["limits"];
  /** The backend id behind a model name or alias, so that a scope naming the id also allows its aliases. */
  resolveModel?: (name: string) => string | undefined;
}

type Limits = BastionConfig["limits"]["key"];

/** What the middleware uses of node-server's `outgoing` (a ServerResponse): its head and its close. */
type OutgoingHead = Pick<ServerResponse, "once" | "setHeader" | "headersSent">;
const merged = new WeakMap<Limits, WeakMap<Limits, Limits>>();

/**
 * The configured defaults overridden by a key's or tenant's own limits. Both come from memoised
 * parses (the same object for the same stored text), so the merge is kept per pair: a request
 * with a cached key reuses it instead of spreading two objects. Nobody mutates limit objects.
 */
function mergedLimits(defaults: Limits, own: Limits): Limits {
  let byOwn = merged.get(defaults);
  if (byOwn === undefined) {
    byOwn = new WeakMap();
    merged.set(defaults, byOwn);
  }
  let limits = byOwn.get(own);
  if (limits === undefined) {
    limits = { ...defaults, ...own };
    byOwn.set(own, limits);
  }
  return limits;
}

/**
 * Authenticates every request it is mounted on, sets `principal`, enforces endpoint and policy
 * scopes and the session's CSRF token, and on model routes applies the rate limits. Refusals
 * use the dialect's error shape.
 */
export function createAuthMiddleware(options: AuthMiddlewareOptions): MiddlewareHandler<AuthVariables> {
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    if (!options.enabled) {
      c.set("principal", anonymousPrincipal);
      return next();
    }
    let context: AuthContext;
    try {
      context = await authenticate(c, options.authenticator);
    } catch (error) {
      const refusal = asBastionError(error);
      if (refusal.code === "internal_error")
        c.get("logger")?.error({ err: error }, "credential check failed");
      return dialectErrorResponse(c, refusal);
    }
    contexts.set(c.req.raw, context);
    c.set("principal", context.principal);

    const allowed = context.principal.models;
    if (allowed !== undefined && (c.req.method === "GET" || c.req.method === "HEAD")) {
      return scopeModelListing(c, next, allowed, options.resolveModel);
    }
    if (!meteredRoutes.has(c.req.path) || c.req.method !== "POST") return next();
    const scopes: LimitScopes = {
      ...(context.principal.keyId === undefined ? {} : { keyId: context.principal.keyId }),
      tenantId: context.principal.tenantId,
      key: mergedLimits(options.limits.key, context.keyLimits),
      tenant: mergedLimits(options.limits.tenant, context.tenantLimits),
    };
    if (context.principal.models !== undefined) {
      // The body is read here, before the routes' own size limit: only with a bounded length.
      const length = Number(c.req.header("content-length"));
      if (!Number.isFinite(length) || length > maxPeekBytes) {
        return dialectErrorResponse(
          c,
          new BastionError(
            "payload_too_large",
            `A key limited to some models must send a Content-Length of at most ${maxPeekBytes} bytes.`,
          ),
        );
      }
      const model = await requestedModel(c);
      const resolved = model === undefined ? undefined : options.resolveModel?.(model);
      const names = model === undefined ? [] : [model, ...(resolved === undefined ? [] : [resolved])];
      if (model !== undefined && !allowedByScope(context.principal.models, ...names)) {
        return dialectErrorResponse(
          c,
          new BastionError(
            "model_not_found",
            `The model '${model.slice(0, 100)}' does not exist or you do not have access to it.`,
            { param: "model" },
          ),
        );
      }
    }
    let admission: Awaited<ReturnType<RateLimits["admit"]>>;
    try {
      admission = await options.rateLimits.admit(scopes);
    } catch (error) {
      const refusal = asBastionError(error);
      if (!(error instanceof BastionError)) {
        // Limits fail closed: without its counters (Redis down) the server cannot know a key's rate.
        c.get("logger")?.error({ err: error }, "rate limiter failed");
        return dialectErrorResponse(
          c,
          new BastionError(
            "not_ready",
            "Rate limits cannot be checked right now (their store is unreachable); retry shortly.",
            {
              retryAfterSeconds: 5,
            },
          ),
        );
      }
      return dialectErrorResponse(c, refusal, error instanceof RateLimitError ? error.headers : {});
    }
    const warnings: string[] = [];
    // Not removed after the handler: a streamed answer may open further chats (Responses API tool
    // turns) and each must reserve its budget too; the WeakMap lets go with the request.
    const afterResponse: Array<() => Promise<void>> = [];
    options.pending.set(context.principal, {
      scopes,
      warn: (message) => void warnings.push(message),
      afterResponse,
      releaseSlot: admission.release,
    });
    let finished: Promise<void> | undefined;
    const finish = () => {
      finished ??= Promise.all([
        admission.release(),
        ...afterResponse.map((callback) => callback().catch(() => {})),
      ]).then(() => {});
      return finished;
    };
    try {
      await next();
    } catch (error) {
      await finish();
      throw error;
    }
    // Served by node-server, the headers go onto its response object, which merges them into the
    // head it writes: reading `c.res.headers` would turn node-server's light response (a plain
    // header object) into a web Response with a Headers that node-server then converts back.
    const outgoing = (c.env as { outgoing?: OutgoingHead } | undefined)?.outgoing;
    const direct =
      outgoing !== undefined && typeof outgoing.setHeader === "function" && outgoing.headersSent === false;
    const setHeader = (name: string, value: string) => {
      if (direct) outgoing.setHeader(name, value);
      else c.res.headers.set(name, value);
    };
    for (const name in admission.headers) setHeader(name, admission.headers[name]!);
    // Embeddings do not go through the chat service: their tokens are read from the answer, and
    // only when a tokens/min limit makes them matter.
    if (
      embeddingRoutes.has(c.req.path) &&
      c.res.status === 200 &&
      (scopes.key.tpm !== undefined || scopes.tenant.tpm !== undefined)
    ) {
      const answer = (await c.res
        .clone()
        .json()
        .catch(() => undefined)) as
        | { usage?: { total_tokens?: unknown }; prompt_eval_count?: unknown }
        | undefined;
      const tokens = Number(answer?.usage?.total_tokens ?? answer?.prompt_eval_count ?? 0);
      if (Number.isFinite(tokens) && tokens > 0) await options.rateLimits.recordTokens(scopes, tokens);
    }
    if (warnings.length > 0) setHeader("x-bastion-budget-warning", warnings.join("; "));
    // Nothing held: nothing to give back.
    if (!admission.holdsSlot && afterResponse.length === 0) return;
    // An embeddings answer or an error is whole once the handler returned: its slot (and the
    // reservation of a chat it opened but never read) goes back before it is sent, so that the
    // client's next request finds them free. Reading the status leaves node-server's light
    // response as it is.
    if (embeddingRoutes.has(c.req.path) || c.res.status >= 400) {
      await finish();
      return;
    }
    // A chat gives its concurrency slot back when the model's answer ended, before the answer's
    // end is written (the chat service calls `releaseSlot`). What is left is held until the last
    // byte of the answer, or the client leaves: an answer that ended without the chat service
    // seeing it, and the reservation of a chat that was opened but never read. Served by
    // node-server, its response's `close` says so without reading the response: reading its
    // headers or body would turn node-server's light response into a web one. Elsewhere
    // (app.request) a JSON answer is complete once the handler returned, and a stream's (SSE,
    // NDJSON) body is wrapped.
    if (outgoing !== undefined && typeof outgoing.once === "function") {
      outgoing.once("close", () => void finish());
      return;
    }
    const streaming = !(c.res.headers.get("content-type") ?? "").startsWith("application/json");
    const body = c.res.body;
    if (!streaming || body === null) {
      await finish();
      return;
    }
    c.res = new Response(releaseOnEnd(body, finish), c.res);
  };
}

/**
 * A key scoped to some models sees only those: `GET /v1/models` and Ollama's `/api/tags` list
 * them alone, and `GET /v1/models/{id}` of another model is a 404, as if it did not exist.
 */
async function scopeModelListing(
  c: Context,
  next: () => Promise<void>,
  allowed: readonly string[],
  resolveModel: ((name: string) => string | undefined) | undefined,
): Promise<Response | undefined> {
  const visible = (...names: string[]) => {
    const resolved = names.flatMap((name) => resolveModel?.(name) ?? []);
    return allowedByScope(allowed, ...names, ...resolved);
  };
  const path = c.req.path;
  if (path.startsWith("/v1/models/")) {
    let id = path.slice("/v1/models/".length);
    try {
      id = decodeURIComponent(id);
    } catch {}
    if (!visible(id)) {
      return dialectErrorResponse(
        c,
        new BastionError(
          "model_not_found",
          `The model '${id.slice(0, 100)}' does not exist or you do not have access to it.`,
          {
            param: "model",
          },
        ),
      );
    }
    await next();
    return undefined;
  }
  await next();
  if ((path !== "/v1/models" && path !== "/api/tags") || c.res.status !== 200) return undefined;
  const body = (await c.res
    .clone()
    .json()
    .catch(() => undefined)) as
    | { data?: Array<{ id: string; aliases?: string[] }>; models?: Array<{ name: string; model?: string }> }
    | undefined;
  if (body === undefined) return undefined;
  if (Array.isArray(body.data))
    body.data = body.data.filter((entry) => visible(entry.id, ...(entry.aliases ?? [])));
  if (Array.isArray(body.models))
    body.models = body.models.filter((entry) =>
      visible(entry.name, ...(entry.model === undefined ? [] : [entry.model])),
    );
  const headers = new Headers(c.res.headers);
  headers.delete("content-length");
  c.res = new Response(JSON.stringify(body), { status: 200, headers });
  return undefined;
}

async function authenticate(c: Context, authenticator: Authenticator): Promise<AuthContext> {
  const credential = readCredential(c);
  if (credential === undefined) {
    throw new BastionError(
      "unauthorized",
      "Missing API key. Send it as 'Authorization: Bearer <key>' (or 'x-api-key'). A fresh install writes its admin key to <data dir>/admin-key.",
    );
  }
  const context =
    credential.kind === "key"
      ? await authenticator.fromKey(credential.value)
      : await authenticator.fromSession(credential.value);
  // Set before the scope checks, so that a refusal below is recorded against who was refused.
  c.set("principal", context.principal);
  const { scopes } = context;
  if (scopes.endpoints !== undefined && !allowedByScope(scopes.endpoints, c.req.path)) {
    throw new BastionError("forbidden", `This API key may not use ${c.req.path.slice(0, 100)}.`);
  }
  if (context.session !== undefined && !safeMethods.has(c.req.method)) {
    if (c.req.header("x-csrf-token") !== context.session.csrfToken) {
      throw new BastionError(
        "forbidden",
        "Missing or wrong x-csrf-token header: send the csrfToken from GET /auth/me with every state-changing request.",
      );
    }
  }
  const chosen = c.req.header("x-bastion-use-policy");
  if (chosen !== undefined && chosen !== "") {
    if (scopes.policies === undefined || !allowedByScope(scopes.policies, chosen)) {
      throw new BastionError(
        "forbidden",
        `This credential may not choose policy '${chosen.slice(0, 100)}' (x-bastion-use-policy); its policy is ${context.principal.policy ?? "the default"}.`,
      );
    }
    context.principal = { ...context.principal, policy: chosen };
  }
  return context;
}

/** The `model` field of a JSON body (undefined when unreadable: the handler will say why). */
async function requestedModel(c: Context): Promise<string | undefined> {
  try {
    // arrayBuffer() is what the dialects read too, so Hono's body cache hands them the same bytes.
    const body = JSON.parse(new TextDecoder().decode(await c.req.arrayBuffer())) as { model?: unknown };
    return typeof body.model === "string" ? body.model : undefined;
  } catch {
    return undefined;
  }
}

/** The body, whose end (or error) waits for `release` to resolve, so that the reader sees it after. */
function releaseOnEnd(
  body: ReadableStream<Uint8Array>,
  release: () => Promise<void>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          await release();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        await release();
        controller.error(error);
      }
    },
    async cancel(reason) {
      void release();
      await reader.cancel(reason);
    },
  });
}
