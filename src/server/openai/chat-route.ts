import type { Context } from "hono";
import type { ChatStreamPart } from "../../core/chat.ts";
import type { ChatSession } from "../../core/chat-service.ts";
import { createAbortLink } from "../abort-link.ts";
import { jsonResponse, plainResponse } from "../app-headers.ts";
import { toErrorResponse } from "../error-response.ts";
import { evidenceHeaders, toWireEvidence } from "../evidence.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { sseBody } from "../sse-body.ts";
import { collectCompletion, createChunker, createCompletionIdentity } from "./chat-response.ts";
import { chatCompletionRequestSchema, toChatRequest, toResponseOptions } from "./chat-schema.ts";

/** How long a stream may wait for its first part before its headers go out anyway. */
const queuedStreamGraceMs = 200;
/** Interval of SSE comments while a stream waits (proxies commonly drop idle streams after 60 s). */
const keepAliveMs = 10_000;

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(resolve, ms, undefined));
}

/**
 * One SSE `data:` event, as Hono's `writeSSE` writes it for a single-line payload (JSON text and
 * `[DONE]` have no line breaks); built here so that several events can share one write.
 */
function sseEvent(data: string): string {
  return `data: ${data}\n\n`;
}

const settled = () => true;

/**
 * Whether `pending` settles before the event loop's next turn: true when its value was already
 * there (a chain of resolved promises), false when it waits for I/O or a timer.
 */
function settlesThisTurn(pending: Promise<unknown>): Promise<boolean> {
  return Promise.race([
    pending.then(settled, settled),
    new Promise<boolean>((resolve) => setImmediate(resolve, false)),
  ]);
}

/** Sends an SSE comment at once and then every `keepAliveMs` until `pending` settles. */
async function waitWithKeepAlive<T>(
  pending: Promise<T>,
  write: (comment: string) => Promise<unknown>,
): Promise<T> {
  await write(": waiting for a generation slot\n\n");
  const timer = setInterval(() => void write(": keep-alive\n\n").catch(() => {}), keepAliveMs);
  try {
    return await pending;
  } finally {
    clearInterval(timer);
  }
}

/**
 * `POST /v1/chat/completions`. Errors before the first part (validation, unknown model, full queue,
 * context overflow) are thrown and become a proper HTTP status; once SSE headers are out, an error
 * is a final `data: {"error": ...}` event followed by `data: [DONE]`.
 */
export function createChatCompletionsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = chatCompletionRequestSchema.parse(await readJsonBody(c));
    const request = toChatRequest(wire);
    const options = toResponseOptions(wire);
    const link = createAbortLink(c.req.raw.signal);
    const principal = c.get("principal");
    const declared = c.req.header("x-bastion-data-class");
    let session: ChatSession;
    try {
      session = await deps.chat.open(request, {
        signal: link.signal,
        requestId: c.get("requestId"),
        endpoint: "/v1/chat/completions",
        ...(principal === undefined ? {} : { principal }),
        ...(declared === undefined ? {} : { declaredDataClass: declared }),
        // A JSON answer leaves only once complete: a backend failing mid-answer may still fall back.
        ...(options.stream ? {} : { buffered: true }),
      });
    } catch (error) {
      link.dispose();
      throw error;
    }
    const identity = createCompletionIdentity(session.model.id, deps.version);

    if (!options.stream) {
      try {
        const completion = await collectCompletion(session.parts, identity);
        const evidence = session.evidence();
        return jsonResponse(
          JSON.stringify({ ...completion, bastion: toWireEvidence(evidence) }),
          200,
          evidenceHeaders(evidence),
          c.get("requestId"),
        );
      } finally {
        link.dispose();
      }
    }

    const iterator = session.parts[Symbol.asyncIterator]();
    const pending = iterator.next();
    // The first part decides between an HTTP error and a stream; but a request waiting in the queue
    // (or for its model to load) gets its headers at once, and comments while it waits, so proxies
    // and clients do not time it out. Errors after that are stream events, as always.
    let first: IteratorResult<ChatStreamPart> | undefined;
    try {
      first = await Promise.race([pending, sleep(queuedStreamGraceMs)]);
    } catch (error) {
      link.dispose();
      throw error;
    }
    pending.catch(() => {});
    const logger = c.get("logger");
    const requestId = c.get("requestId");
    const body = sseBody(async (stream) => {
      stream.onAbort(() => link.abort());
      const chunker = createChunker(identity, options);
      let result: IteratorResult<ChatStreamPart> = { done: false, value: { type: "text-delta", text: "" } };
      let finished = false;
      // Events not yet written. Parts that are already there (one upstream read often carries
      // several) share a socket write; a part the backend has yet to produce first sends what is
      // ready, so nothing waits on the next token. The finish part's chunks wait for the stream's
      // end, which follows at once, so that they and `[DONE]` leave in one write.
      let unsent = "";
      try {
        result = first ?? (await waitWithKeepAlive(pending, (comment) => stream.write(comment)));
        while (!result.done) {
          const part = result.value;
          if (part.type === "finish") finished = true;
          const chunks = chunker.toChunks(part);
          // The evidence rides on the last chunk (the usage chunk when usage was asked for).
          const last = chunks.at(-1);
          const withEvidence = part.type === "finish" && last !== undefined;
          for (const chunk of chunks) {
            const body =
              withEvidence && chunk === last
                ? { ...chunk, bastion: toWireEvidence(session.evidence()) }
                : chunk;
            unsent += sseEvent(JSON.stringify(body));
          }
          if (stream.aborted || link.signal.aborted) return;
          const next = iterator.next();
          if (part.type !== "finish" && unsent !== "" && !(await settlesThisTurn(next))) {
            await stream.write(unsent);
            unsent = "";
          }
          result = await next;
        }
        if (!finished) throw new Error("The backend ended its stream without a finish part.");
        await stream.write(unsent + sseEvent("[DONE]"));
      } catch (error) {
        if (stream.aborted || link.signal.aborted) {
          logger.debug({ err: error }, "stream ended after the client went away");
          return;
        }
        const response = toErrorResponse(error, requestId);
        if (response.unexpected) logger.error({ err: error }, "chat stream failed");
        else logger.info({ code: response.body.error.code }, "chat stream ended with an error");
        await stream.write(unsent + sseEvent(JSON.stringify(response.body)) + sseEvent("[DONE]"));
      } finally {
        link.dispose();
        if (!result.done) {
          // Lets a generator backend run its cleanup (release the sequence) when we stop early.
          await Promise.resolve(iterator.return?.()).catch(() => {});
        }
      }
    });
    return plainResponse(
      body,
      200,
      {
        // What Hono's streamSSE sets.
        "transfer-encoding": "chunked",
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
        ...evidenceHeaders(session.evidence()),
        // Reverse proxies (nginx) would otherwise buffer the stream and hold tokens back.
        "x-accel-buffering": "no",
      },
      requestId,
    );
  };
}
