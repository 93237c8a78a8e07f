import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ChatStreamPart } from "../../core/chat.ts";
import { BastionError } from "../../core/errors.ts";
import { createAbortLink } from "../abort-link.ts";
import { toErrorResponse } from "../error-response.ts";
import { readJsonBody } from "../read-json-body.ts";
import { clip, resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { collectCompletion, createChunker, createCompletionIdentity } from "./chat-response.ts";
import { chatCompletionRequestSchema, toChatRequest, toResponseOptions } from "./chat-schema.ts";

/**
 * `POST /v1/chat/completions`. Errors before the first part (validation, unknown model, full queue,
 * context overflow) are thrown and become a proper HTTP status; once SSE headers are out, an error
 * is a final `data: {"error": ...}` event followed by `data: [DONE]`.
 */
export function createChatCompletionsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = chatCompletionRequestSchema.parse(await readJsonBody(c));
    const backend = await resolveBackend(deps.registry, wire.model);
    const descriptor = backend.describe();
    if (!descriptor.capabilities.chat) {
      throw new BastionError(
        "unsupported_parameter",
        `The model '${clip(wire.model)}' does not support chat completions.`,
        { param: "model" },
      );
    }
    const request = toChatRequest(wire);
    const options = toResponseOptions(wire);
    const identity = createCompletionIdentity(descriptor.id, deps.version);
    const link = createAbortLink(c.req.raw.signal);

    if (!options.stream) {
      try {
        return c.json(await collectCompletion(backend.chat(request, { signal: link.signal }), identity));
      } finally {
        link.dispose();
      }
    }

    const iterator = backend.chat(request, { signal: link.signal })[Symbol.asyncIterator]();
    let first: IteratorResult<ChatStreamPart>;
    try {
      first = await iterator.next();
    } catch (error) {
      link.dispose();
      throw error;
    }
    const logger = c.get("logger");
    const requestId = c.get("requestId");
    // Reverse proxies (nginx) would otherwise buffer the stream and hold tokens back.
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => link.abort());
      const chunker = createChunker(identity, options);
      let result = first;
      let finished = false;
      try {
        while (!result.done) {
          if (result.value.type === "finish") finished = true;
          for (const chunk of chunker.toChunks(result.value)) {
            await stream.writeSSE({ data: JSON.stringify(chunk) });
          }
          if (stream.aborted || link.signal.aborted) return;
          result = await iterator.next();
        }
        if (!finished) throw new Error("The backend ended its stream without a finish part.");
        await stream.writeSSE({ data: "[DONE]" });
      } catch (error) {
        if (stream.aborted || link.signal.aborted) {
          logger.debug({ err: error }, "stream ended after the client went away");
          return;
        }
        const response = toErrorResponse(error, requestId);
        if (response.unexpected) logger.error({ err: error }, "chat stream failed");
        else logger.info({ code: response.body.error.code }, "chat stream ended with an error");
        await stream.writeSSE({ data: JSON.stringify(response.body) });
        await stream.writeSSE({ data: "[DONE]" });
      } finally {
        link.dispose();
        if (!result.done) {
          // Lets a generator backend run its cleanup (release the sequence) when we stop early.
          await Promise.resolve(iterator.return?.()).catch(() => {});
        }
      }
    });
  };
}
