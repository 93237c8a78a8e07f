import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { BastionError } from "../../core/errors.ts";
import { createAbortLink } from "../abort-link.ts";
import { toErrorResponse } from "../error-response.ts";
import { evidenceHeaders, toWireEvidence } from "../evidence.ts";
import { fitMaxTokens, openChat, remainingParts } from "../ollama/open-chat.ts";
import { readJsonBody } from "../read-json-body.ts";
import { clip, resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { toAnthropicErrorBody } from "./anthropic-error.ts";
import { collectMessage, createEventWriter, newMessageId, type StreamEvent } from "./messages-response.ts";
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  promptToChatRequest,
  toChatRequest,
} from "./messages-schema.ts";

/**
 * `POST /v1/messages`. Errors before the first part are thrown and answered in Anthropic's shape
 * with a proper status; once the event stream has started, an error is a last `event: error`.
 */
export function createMessagesHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = messagesRequestSchema.parse(await readJsonBody(c));
    const request = toChatRequest(wire);
    const fit = await fitMaxTokens(deps, request, c.req.raw.signal);
    const opened = await openChat(c, deps, request, "/v1/messages", wire.stream !== true);
    const { session, link } = opened;
    const identity = { id: newMessageId(), model: session.model.id, contextLimited: fit.lowered };

    if (wire.stream !== true) {
      try {
        const message = await collectMessage(remainingParts(opened), identity);
        const evidence = session.evidence();
        return c.json({ ...message, bastion: toWireEvidence(evidence) }, 200, evidenceHeaders(evidence));
      } finally {
        link.dispose();
        await opened.close();
      }
    }

    const logger = c.get("logger");
    const requestId = c.get("requestId");
    for (const [name, value] of Object.entries(evidenceHeaders(session.evidence()))) c.header(name, value);
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => link.abort());
      const send = async (events: StreamEvent[]) => {
        for (const { event, data } of events) await stream.writeSSE({ event, data: JSON.stringify(data) });
      };
      const writer = createEventWriter(identity);
      const evidence = () => toWireEvidence(session.evidence());
      let finished = false;
      try {
        // Anthropic sends the prompt's size before any output; the engine's own count comes at the end.
        await send(writer.start(fit.promptTokens ?? 0));
        for await (const part of remainingParts(opened)) {
          if (part.type === "finish") finished = true;
          await send(writer.toEvents(part, evidence));
          if (stream.aborted || link.signal.aborted) return;
        }
        if (!finished) throw new Error("The backend ended its stream without a finish part.");
      } catch (error) {
        if (stream.aborted || link.signal.aborted) {
          logger.debug({ err: error }, "stream ended after the client went away");
          return;
        }
        const response = toErrorResponse(error, requestId);
        if (response.unexpected) logger.error({ err: error }, "messages stream failed");
        else logger.info({ code: response.body.error.code }, "messages stream ended with an error");
        await stream.writeSSE({
          event: "error",
          data: JSON.stringify(toAnthropicErrorBody(response, requestId)),
        });
      } finally {
        link.dispose();
        await opened.close();
      }
    });
  };
}

/** `POST /v1/messages/count_tokens`: the prompt's size with the model's tokenizer and chat template. */
export function createCountTokensHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = countTokensRequestSchema.parse(await readJsonBody(c));
    const backend = await resolveBackend(deps.registry, wire.model);
    if (backend.countTokens === undefined) {
      throw new BastionError(
        "unsupported_parameter",
        `The model '${clip(wire.model)}' cannot count tokens: its backend has no tokenizer here.`,
        { param: "model" },
      );
    }
    const link = createAbortLink(c.req.raw.signal);
    try {
      return c.json({
        input_tokens: await backend.countTokens(promptToChatRequest(wire), { signal: link.signal }),
      });
    } finally {
      link.dispose();
    }
  };
}
