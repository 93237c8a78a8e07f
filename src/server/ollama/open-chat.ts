import type { Context } from "hono";
import type { ChatRequest, ChatStreamPart } from "../../core/chat.ts";
import type { ChatSession } from "../../core/chat-service.ts";
import { type AbortLink, createAbortLink } from "../abort-link.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";

/** A chat opened through the chat service, with its first part already in hand. */
export interface OpenedChat {
  session: ChatSession;
  link: AbortLink;
  iterator: AsyncIterator<ChatStreamPart>;
  first: IteratorResult<ChatStreamPart>;
  /** Lets a generator backend run its cleanup (release the sequence) when the stream stops early. */
  close(): Promise<void>;
}

/**
 * Runs a chat through `deps.chat` (the gateway when there is one) for the Ollama and Anthropic
 * dialects, as the OpenAI route does: the abort link frees the sequence when the client goes away,
 * and the first part is awaited before any header is sent, so that every error that can happen
 * before the answer starts (unknown model, full queue, context overflow) is a proper HTTP status.
 */
export async function openChat(
  c: Context<ServerEnv>,
  deps: ServerDependencies,
  request: ChatRequest,
  endpoint: string,
  /** True for a non-stream request, whose answer the gateway may then retry or fall back mid-way. */
  buffered = false,
): Promise<OpenedChat> {
  const link = createAbortLink(c.req.raw.signal);
  const principal = c.get("principal");
  const declared = c.req.header("x-bastion-data-class");
  try {
    const session = await deps.chat.open(request, {
      signal: link.signal,
      requestId: c.get("requestId"),
      endpoint,
      ...(principal === undefined ? {} : { principal }),
      ...(declared === undefined ? {} : { declaredDataClass: declared }),
      ...(buffered ? { buffered } : {}),
    });
    const iterator = session.parts[Symbol.asyncIterator]();
    const first = await iterator.next();
    return {
      session,
      link,
      iterator,
      first,
      close: () =>
        Promise.resolve(iterator.return?.()).then(
          () => undefined,
          () => undefined,
        ),
    };
  } catch (error) {
    link.dispose();
    throw error;
  }
}

/** What `fitMaxTokens` found: the prompt's size when it could count it, and whether it lowered the cap. */
export interface PromptFit {
  promptTokens: number | undefined;
  lowered: boolean;
}

/**
 * Ollama's `num_predict` and Anthropic's `max_tokens` are ceilings that clients set without knowing
 * the model (Claude clients send 32000 to a 4096-token local model): both servers stop when the
 * context is full rather than refuse. So a cap larger than the room the prompt leaves is lowered to
 * that room, counted with the model's tokenizer; a prompt that leaves no room at all still gets
 * the engine's `context_length_exceeded`. Without a local tokenizer the request is left as it is.
 */
export async function fitMaxTokens(
  deps: ServerDependencies,
  request: ChatRequest,
  signal: AbortSignal,
): Promise<PromptFit> {
  const backend = deps.registry.get(request.model);
  const contextLength = backend?.describe().contextLength;
  if (backend?.countTokens === undefined || contextLength === undefined) {
    return { promptTokens: undefined, lowered: false };
  }
  const promptTokens = await backend.countTokens(request, { signal });
  const room = contextLength - promptTokens;
  if (request.maxTokens === undefined || room < 1 || request.maxTokens <= room) {
    return { promptTokens, lowered: false };
  }
  request.maxTokens = room;
  return { promptTokens, lowered: true };
}

/** The parts of an opened chat from the first one on, as one iterable. */
export async function* remainingParts(opened: OpenedChat): AsyncIterable<ChatStreamPart> {
  let result = opened.first;
  while (!result.done) {
    yield result.value;
    result = await opened.iterator.next();
  }
}
