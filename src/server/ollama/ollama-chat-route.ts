import type { Context } from "hono";
import { stream as streamBody } from "hono/streaming";
import type { ModelRegistry } from "../../core/backend.ts";
import type { ChatRequest } from "../../core/chat.ts";
import { BastionError } from "../../core/errors.ts";
import { createAbortLink } from "../abort-link.ts";
import { toErrorResponse } from "../error-response.ts";
import { evidenceHeaders, toWireEvidence } from "../evidence.ts";
import { readJsonBody } from "../read-json-body.ts";
import { resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { type OllamaErrorBody, toOllamaErrorBody } from "./ollama-error.ts";
import { createOllamaFramer, type OllamaDialect, type OllamaFrame } from "./ollama-response.ts";
import {
  chatToChatRequest,
  generateToChatRequest,
  ollamaChatRequestSchema,
  ollamaGenerateRequestSchema,
} from "./ollama-schema.ts";
import { fitMaxTokens, openChat, remainingParts } from "./open-chat.ts";

/**
 * Ollama clients often add the default tag (`qwen:latest`) to a name they listed without one;
 * the bare name is used when only it exists.
 */
export function ollamaModelName(registry: ModelRegistry, name: string): string {
  if (registry.get(name) !== undefined || !name.endsWith(":latest")) return name;
  const bare = name.slice(0, -":latest".length);
  return registry.get(bare) === undefined ? name : bare;
}

interface ParsedRequest {
  request: ChatRequest;
  stream: boolean;
  /** Nothing to answer: Ollama's way of asking to load the model. */
  loadOnly: boolean;
  keepAlive: string | number | null | undefined;
}

function parseRequest(dialect: OllamaDialect, body: unknown): ParsedRequest {
  if (dialect === "chat") {
    const wire = ollamaChatRequestSchema.parse(body);
    return {
      request: chatToChatRequest(wire),
      stream: wire.stream ?? true,
      loadOnly: (wire.messages ?? []).length === 0,
      keepAlive: wire.keep_alive,
    };
  }
  const wire = ollamaGenerateRequestSchema.parse(body);
  return {
    request: generateToChatRequest(wire),
    stream: wire.stream ?? true,
    loadOnly: (wire.prompt ?? "") === "",
    keepAlive: wire.keep_alive,
  };
}

/**
 * `POST /api/chat` and `POST /api/generate`. Streamed as NDJSON unless `stream: false`. Errors
 * before the first part are thrown and become `{"error": "..."}` with a proper status; once the
 * stream has started, an error is a last `{"error": "..."}` line, as Ollama sends it.
 */
export function createOllamaChatHandler(deps: ServerDependencies, dialect: OllamaDialect) {
  const endpoint = `/api/${dialect}`;
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const startedAt = performance.now();
    const parsed = parseRequest(dialect, await readJsonBody(c));
    const request = parsed.request;
    request.model = ollamaModelName(deps.registry, request.model);
    if (parsed.loadOnly) return loadModel(c, deps, dialect, request.model, parsed.keepAlive);

    if (request.maxTokens !== undefined) await fitMaxTokens(deps, request, c.req.raw.signal);
    const opened = await openChat(c, deps, request, endpoint, !parsed.stream);
    const { session, link } = opened;
    const framer = createOllamaFramer(dialect, session.model.id, startedAt);

    if (!parsed.stream) {
      try {
        const answer = await framer.collect(remainingParts(opened));
        const evidence = session.evidence();
        return c.json({ ...answer, bastion: toWireEvidence(evidence) }, 200, evidenceHeaders(evidence));
      } finally {
        link.dispose();
        await opened.close();
      }
    }

    for (const [name, value] of Object.entries(evidenceHeaders(session.evidence()))) c.header(name, value);
    c.header("Content-Type", "application/x-ndjson");
    c.header("Cache-Control", "no-cache");
    c.header("X-Accel-Buffering", "no");
    const logger = c.get("logger");
    const requestId = c.get("requestId");
    return streamBody(c, async (out) => {
      out.onAbort(() => link.abort());
      const write = (frame: OllamaFrame | OllamaErrorBody) => out.write(`${JSON.stringify(frame)}\n`);
      let finished = false;
      try {
        for await (const part of remainingParts(opened)) {
          const frame = framer.toFrame(part);
          if (part.type === "finish") finished = true;
          if (frame !== undefined) {
            await write(frame.done ? { ...frame, bastion: toWireEvidence(session.evidence()) } : frame);
          }
          if (out.aborted || link.signal.aborted) return;
        }
        if (!finished) throw new Error("The backend ended its stream without a finish part.");
      } catch (error) {
        if (out.aborted || link.signal.aborted) {
          logger.debug({ err: error }, "stream ended after the client went away");
          return;
        }
        const response = toErrorResponse(error, requestId);
        if (response.unexpected) logger.error({ err: error }, "ollama stream failed");
        else logger.info({ code: response.body.error.code }, "ollama stream ended with an error");
        await write(toOllamaErrorBody(response.body));
      } finally {
        link.dispose();
        await opened.close();
      }
    });
  };
}

/**
 * An empty prompt (or no messages) asks Ollama to load the model and answer `done_reason: "load"`.
 * Counting the (empty) prompt's tokens is the backend call that needs the model in memory and
 * generates nothing, so it is what loads it here.
 */
async function loadModel(
  c: Context<ServerEnv>,
  deps: ServerDependencies,
  dialect: OllamaDialect,
  model: string,
  keepAlive: string | number | null | undefined,
): Promise<Response> {
  if (keepAlive === 0 || keepAlive === "0" || keepAlive === "0s") {
    throw new BastionError(
      "unsupported_parameter",
      "Unloading a model with keep_alive: 0 is not supported; Bastion unloads idle models after the configured models.idleUnloadSeconds.",
      { param: "keep_alive" },
    );
  }
  const backend = await resolveBackend(deps.registry, model);
  const descriptor = backend.describe();
  if (!descriptor.capabilities.chat) {
    throw new BastionError("unsupported_parameter", `The model '${descriptor.id}' does not support chat.`, {
      param: "model",
    });
  }
  if (backend.countTokens !== undefined) {
    const link = createAbortLink(c.req.raw.signal);
    try {
      await backend.countTokens({ model, messages: [], sampling: {} }, { signal: link.signal });
    } finally {
      link.dispose();
    }
  }
  const created_at = new Date().toISOString();
  const answer =
    dialect === "chat"
      ? { model: descriptor.id, created_at, message: { role: "assistant", content: "" } }
      : { model: descriptor.id, created_at, response: "" };
  return c.json({ ...answer, done_reason: "load", done: true });
}
