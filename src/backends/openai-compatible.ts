import { createParser, type EventSourceMessage } from "eventsource-parser";
import { Pool, errors as undiciErrors } from "undici";
import type {
  ChatCallOptions,
  EmbeddingResult,
  Jurisdiction,
  ModelBackend,
  ModelDescriptor,
  Pricing,
} from "../core/backend.ts";
import type { ChatRequest, ChatStreamPart, FinishReason, ToolCall, Usage } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { createThinkSplitter } from "./openai-compatible-think.ts";
import {
  toFinishReason,
  toUpstreamBody,
  toUsage,
  upstreamErrorMessage,
  upstreamErrorStatus,
} from "./openai-compatible-wire.ts";
import { type UpstreamResponse, upstreamCall } from "./upstream-call.ts";

export interface OpenAICompatibleBackendOptions {
  id: string;
  /** The OpenAI API root, e.g. `http://10.0.0.5:8000/v1`. */
  baseUrl: string;
  apiKey?: string;
  authHeader?: "bearer" | "api-key";
  /** Model names as routes call them -> upstream names. */
  models?: Readonly<Record<string, string>>;
  jurisdiction: Jurisdiction;
  pricing: Pricing;
  timeouts: { connectMs: number; firstByteMs: number; idleMs: number };
  maxConcurrent: number;
  healthPath?: string;
}

/** A remote OpenAI-compatible server as a backend: vLLM, llama.cpp, Ollama, another Bastion, a cloud. */
export interface OpenAICompatibleBackend extends ModelBackend {
  readonly kind: "remote";
  readonly baseUrl: string;
  /** The backend bound to one model name (mapped through `models`), for chat and embeddings. */
  forModel(model: string): ModelBackend;
  /** Requests in flight now (for least-busy routing). */
  inFlight(): number;
  /** Resolves when the upstream answers its health path with a 2xx; throws an `upstream_error` otherwise. */
  probe(signal?: AbortSignal): Promise<void>;
  dispose(): Promise<void>;
}

/** Largest error body read from an upstream: enough for a message, not a memory sink. */
const maxErrorBodyBytes = 64 * 1024;

function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** An error from this upstream, with `isRetryable` set as the gateway's retry policy reads it. */
function upstreamError(id: string, message: string, isRetryable: boolean, cause?: unknown): BastionError {
  return new BastionError("upstream_error", `Backend '${id}': ${message}`, {
    isRetryable,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Whether the status says the request itself is at fault, so that another backend would refuse it too. */
function refusedStatus(status: number): boolean {
  return status === 400 || status === 413 || status === 422;
}

/**
 * An error object inside a 200 answer (a JSON body or a stream chunk): the client's error when it
 * names a refusal status (a context too long), else an upstream error, retryable unless its status
 * says otherwise.
 */
function errorInside(id: string, body: unknown, message: string): BastionError {
  const status = upstreamErrorStatus(body);
  if (status !== undefined && refusedStatus(status))
    return new BastionError(
      "invalid_request",
      `Backend '${id}' refused the request: ${message.slice(0, 300)}`,
    );
  return upstreamError(
    id,
    `error inside the stream: ${message.slice(0, 300)}`,
    status === undefined || retryableStatus(status),
  );
}

/** Network failures (refused, reset, timeouts) are worth a retry; our own abort is not. */
function fromTransportError(id: string, error: unknown, signal: AbortSignal | undefined): BastionError {
  if (error instanceof BastionError) return error;
  if (signal?.aborted) return new BastionError("cancelled", "The request was cancelled.", { cause: error });
  if (error instanceof undiciErrors.HeadersTimeoutError)
    return upstreamError(id, "no response headers in time.", true, error);
  if (error instanceof undiciErrors.BodyTimeoutError)
    return upstreamError(id, "the stream stalled (idle timeout).", true, error);
  if (error instanceof undiciErrors.ConnectTimeoutError)
    return upstreamError(id, "connect timeout.", true, error);
  const code = (error as { code?: string }).code;
  const text = code ?? (error as Error).message ?? String(error);
  return upstreamError(id, `connection failed (${text}).`, true, error);
}

async function readText(body: AsyncIterable<Buffer | Uint8Array>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = Buffer.from(chunk);
    if (size + buffer.length > limit) {
      chunks.push(buffer.subarray(0, limit - size));
      break;
    }
    chunks.push(buffer);
    size += buffer.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface ToolCallDraft {
  /** 0-based, in order of first appearance: the core part's index. */
  position: number;
  id: string;
  name: string;
  arguments: string;
  /** Whether its `tool-call-delta` with id and name went out (after which the id is fixed). */
  announced: boolean;
}

/** Turns upstream chunks into core parts; one per request. */
function createChunkReader(id: string) {
  const splitter = createThinkSplitter();
  const tools = new Map<number, ToolCallDraft>();
  let finishReason: FinishReason | undefined;
  let usage: Usage | undefined;

  function fromText(pieces: Array<{ channel: "reasoning" | "text"; text: string }>): ChatStreamPart[] {
    return pieces.map((piece) =>
      piece.channel === "reasoning"
        ? { type: "reasoning-delta", text: piece.text }
        : { type: "text-delta", text: piece.text },
    );
  }

  return {
    get finished() {
      return finishReason !== undefined;
    },
    /** Parts from one chunk (a streamed delta or a whole non-streamed message). */
    read(chunk: unknown): ChatStreamPart[] {
      if (typeof chunk !== "object" || chunk === null || Array.isArray(chunk)) {
        throw upstreamError(id, "the stream carried a value that is not a JSON object.", false);
      }
      const errorMessage = upstreamErrorMessage(chunk);
      if (errorMessage !== undefined) throw errorInside(id, chunk, errorMessage);
      const record = chunk as Record<string, unknown>;
      if (record.usage !== undefined && record.usage !== null) usage = toUsage(record.usage);
      const out: ChatStreamPart[] = [];
      const choices = Array.isArray(record.choices) ? record.choices : [];
      const choice = choices[0] as Record<string, unknown> | undefined;
      if (choice === undefined) return out;
      const delta = (choice.delta ?? choice.message ?? {}) as Record<string, unknown>;
      // DeepSeek and llama.cpp say `reasoning_content`, vLLM and Ollama `reasoning`.
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === "string" && reasoning.length > 0)
        out.push({ type: "reasoning-delta", text: reasoning });
      if (typeof delta.content === "string" && delta.content.length > 0)
        out.push(...fromText(splitter.push(delta.content)));
      if (Array.isArray(delta.tool_calls)) {
        for (const [position, raw] of delta.tool_calls.entries()) {
          const call = (raw ?? {}) as Record<string, unknown>;
          const index = typeof call.index === "number" ? call.index : position;
          const fn = (call.function ?? {}) as Record<string, unknown>;
          const draft = tools.get(index) ?? {
            position: tools.size,
            id: "",
            name: "",
            arguments: "",
            announced: false,
          };
          tools.set(index, draft);
          if (!draft.announced && typeof call.id === "string" && call.id !== "") draft.id = call.id;
          if (typeof fn.name === "string" && !draft.announced) draft.name += fn.name;
          const piece =
            typeof fn.arguments === "string"
              ? fn.arguments
              : typeof fn.arguments === "object" && fn.arguments !== null
                ? JSON.stringify(fn.arguments)
                : "";
          draft.arguments += piece;
          // Streamed on as it comes (unbuffered), once the name is known; the whole call follows at the end.
          if (!draft.announced && draft.name !== "") {
            draft.announced = true;
            if (draft.id === "") draft.id = `call_${draft.position}`;
            out.push({
              type: "tool-call-delta",
              index: draft.position,
              id: draft.id,
              name: draft.name,
              argumentsDelta: draft.arguments,
            });
          } else if (draft.announced && piece !== "") {
            out.push({
              type: "tool-call-delta",
              index: draft.position,
              id: draft.id,
              name: draft.name,
              argumentsDelta: piece,
            });
          }
        }
      }
      if (typeof choice.finish_reason === "string") finishReason = toFinishReason(choice.finish_reason);
      return out;
    },
    /** The closing parts: held-back text, assembled tool calls, then `finish`. */
    end(): ChatStreamPart[] {
      const out = fromText(splitter.flush());
      const ordered = [...tools.values()].sort((a, b) => a.position - b.position);
      for (const draft of ordered) {
        if (draft.name === "")
          throw upstreamError(id, `tool call ${draft.position} has no function name.`, false);
        const call: ToolCall = {
          id: draft.id === "" ? `call_${draft.position}` : draft.id,
          name: draft.name,
          arguments: draft.arguments === "" ? "{}" : draft.arguments,
        };
        out.push({ type: "tool-call", index: draft.position, call });
      }
      const reason = ordered.length > 0 && finishReason === "stop" ? "tool_calls" : (finishReason ?? "stop");
      out.push({
        type: "finish",
        finishReason: reason,
        usage: usage ?? { promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedPromptTokens: 0 },
      });
      return out;
    },
  };
}

/**
 * A `ModelBackend` over a remote OpenAI-compatible API: pooled undici connections (per-backend
 * agent with connect/header/idle timeouts and a connection cap), upstream SSE read by
 * eventsource-parser, one reasoning contract (`reasoning_content`, `reasoning`, `<think>` in
 * content), tool calls assembled from deltas. Every upstream failure becomes a `BastionError`
 * (`upstream_error`, retryable or not) thrown from the stream, never a hang.
 */
export function createOpenAICompatibleBackend(
  options: OpenAICompatibleBackendOptions,
): OpenAICompatibleBackend {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // One pool for the upstream's origin, asked by path: no URL to parse and no origin to look up
  // per request (what `request(url, {dispatcher: agent})` does), the same connections otherwise.
  const url = new URL(baseUrl);
  const pathPrefix = `${url.pathname.replace(/\/+$/, "")}${url.search}`;
  const pool = new Pool(url.origin, {
    connections: options.maxConcurrent,
    connect: { timeout: options.timeouts.connectMs },
    headersTimeout: options.timeouts.firstByteMs,
    bodyTimeout: options.timeouts.idleMs,
    keepAliveTimeout: 10_000,
  });
  let inFlight = 0;

  function headers(json: boolean): Record<string, string> {
    const out: Record<string, string> = {
      accept: json ? "application/json" : "text/event-stream, application/json",
    };
    if (json) out["content-type"] = "application/json";
    if (options.apiKey !== undefined && options.apiKey !== "") {
      if (options.authHeader === "api-key") out["api-key"] = options.apiKey;
      else out.authorization = `Bearer ${options.apiKey}`;
    }
    return out;
  }

  function upstreamModel(name: string): string {
    return options.models?.[name] ?? name;
  }

  // Built once: the same for every request of this backend.
  const chatHeaders = { ...headers(true), accept: "text/event-stream" };
  const jsonHeaders = headers(true);

  async function post(path: string, body: unknown, signal: AbortSignal): Promise<UpstreamResponse> {
    try {
      return await upstreamCall(
        pool,
        {
          path: `${pathPrefix}${path}`,
          method: "POST",
          headers: path === "/chat/completions" ? chatHeaders : jsonHeaders,
          body: JSON.stringify(body),
        },
        signal,
      );
    } catch (error) {
      throw fromTransportError(options.id, error, signal);
    }
  }

  async function failOnStatus(response: UpstreamResponse): Promise<void> {
    if (response.statusCode >= 200 && response.statusCode < 300) return;
    const text = await readText(response.body, maxErrorBodyBytes).catch(() => "");
    const message = upstreamErrorMessage(parseJson(text)) ?? (text.trim().slice(0, 200) || "no body");
    const status = response.statusCode;
    if (refusedStatus(status)) {
      // The request itself is at fault: another backend would refuse it too.
      throw new BastionError(
        "invalid_request",
        `Backend '${options.id}' refused the request (${status}): ${message.slice(0, 300)}`,
      );
    }
    throw upstreamError(options.id, `HTTP ${status}: ${message.slice(0, 300)}`, retryableStatus(status));
  }

  async function* chat(request: ChatRequest, call: ChatCallOptions): AsyncIterable<ChatStreamPart> {
    inFlight++;
    let response: UpstreamResponse | undefined;
    try {
      response = await post(
        "/chat/completions",
        toUpstreamBody(request, upstreamModel(request.model)),
        call.signal,
      );
      await failOnStatus(response);
      const reader = createChunkReader(options.id);
      const contentType = String(response.headers["content-type"] ?? "").toLowerCase();
      if (contentType.startsWith("application/json")) {
        // Some servers ignore `stream: true` and answer with one completion.
        const text = await readText(response.body, 64 * 1024 * 1024);
        const body = parseJson(text);
        if (body === undefined) throw upstreamError(options.id, "the response body is not valid JSON.", true);
        // All or nothing: the whole completion is checked before its first part leaves, so that a
        // broken one fails (and is retried or falls back) before anything reached the client.
        const parts = reader.read(body);
        if (!reader.finished) throw upstreamError(options.id, "the response has no finish_reason.", true);
        for (const part of reader.end()) parts.push(part);
        for (const part of parts) yield part;
        return;
      }
      if (!contentType.startsWith("text/event-stream")) {
        throw upstreamError(
          options.id,
          `expected an event stream, got content type '${contentType.slice(0, 80) || "none"}'.`,
          true,
        );
      }
      const events: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (event) => events.push(event) });
      const decoder = new TextDecoder();
      // Plain arrays and `for…of` + `yield`: `yield*` over a sync iterable in an async generator
      // wraps it in an async-from-sync iterator, a few extra promises per part.
      const finish = () => {
        if (!reader.finished) {
          throw upstreamError(options.id, "the stream ended before the answer did (no finish_reason).", true);
        }
        return reader.end();
      };
      /** The parts of one event; `undefined` for `[DONE]`. */
      const partsOf = (event: EventSourceMessage): ChatStreamPart[] | undefined => {
        if (event.data === "[DONE]") return undefined;
        if (event.event === "error") {
          throw upstreamError(options.id, `error event: ${event.data.slice(0, 300)}`, true);
        }
        const data = parseJson(event.data);
        if (data === undefined)
          throw upstreamError(options.id, "the stream carried data that is not JSON.", true);
        return reader.read(data);
      };
      let done = false;
      for await (const chunk of response.body) {
        // After [DONE] the rest of the body is read, not destroyed, so that undici keeps the
        // connection for the next request (a destroyed body closes its socket).
        if (done) continue;
        // `stream: true` holds back a character cut between two reads (é, ⟦, an emoji).
        parser.feed(decoder.decode(chunk, { stream: true }));
        for (const event of events.splice(0)) {
          const parts = partsOf(event);
          if (parts === undefined) {
            done = true;
            for (const part of finish()) yield part;
            break;
          }
          for (const part of parts) yield part;
        }
      }
      if (!done) {
        // The body ended without [DONE]: an event not closed by a blank line still counts (the
        // last bytes of the decoder too); then the answer must have ended (a finish_reason).
        parser.feed(`${decoder.decode()}\n\n`);
        for (const event of events.splice(0)) {
          const parts = partsOf(event);
          if (parts === undefined) break;
          for (const part of parts) yield part;
        }
        for (const part of finish()) yield part;
      }
    } catch (error) {
      throw fromTransportError(options.id, error, call.signal);
    } finally {
      inFlight--;
      // Stops reading what the client no longer wants; frees the connection.
      response?.body.abort();
    }
  }

  async function embed(model: string, inputs: string[], call: ChatCallOptions): Promise<EmbeddingResult> {
    inFlight++;
    try {
      const response = await post(
        "/embeddings",
        { model: upstreamModel(model), input: inputs, encoding_format: "float" },
        call.signal,
      );
      await failOnStatus(response);
      const body = parseJson(await readText(response.body, 256 * 1024 * 1024)) as
        | { data?: Array<{ index?: number; embedding?: unknown }>; usage?: { prompt_tokens?: number } }
        | undefined;
      if (body === undefined || !Array.isArray(body.data) || body.data.length !== inputs.length) {
        throw upstreamError(
          options.id,
          "the embeddings response is not a list with one vector per input.",
          true,
        );
      }
      const ordered = [...body.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      const vectors = ordered.map((item) => {
        if (!Array.isArray(item.embedding) || !item.embedding.every((value) => typeof value === "number")) {
          throw upstreamError(options.id, "an embedding is not an array of numbers.", true);
        }
        return Float32Array.from(item.embedding as number[]);
      });
      return { vectors, promptTokens: count(body.usage?.prompt_tokens) };
    } catch (error) {
      throw fromTransportError(options.id, error, call.signal);
    } finally {
      inFlight--;
    }
  }

  const describe = (id: string): ModelDescriptor => ({
    id,
    aliases: [],
    ownedBy: options.jurisdiction.operator,
    created: 0,
    loaded: true,
    capabilities: { chat: true, reasoning: true, tools: true, jsonSchema: true, embeddings: true },
  });

  const backend: OpenAICompatibleBackend = {
    id: options.id,
    kind: "remote",
    baseUrl,
    jurisdiction: options.jurisdiction,
    pricing: options.pricing,
    describe: () => describe(options.id),
    chat,
    forModel(model) {
      return {
        id: options.id,
        jurisdiction: options.jurisdiction,
        pricing: options.pricing,
        describe: () => describe(`${options.id}/${model}`),
        chat: (request, call) => chat({ ...request, model }, call),
        embed: (inputs, call) => embed(model, inputs, call),
      };
    },
    inFlight: () => inFlight,
    async probe(signal) {
      const timeout = AbortSignal.timeout(options.timeouts.connectMs + 5_000);
      const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
      try {
        const response = await pool.request({
          path: `${pathPrefix}${options.healthPath ?? "/models"}`,
          method: "GET",
          headers: jsonHeaders,
          signal: combined,
        });
        await response.body.dump();
        if (response.statusCode < 200 || response.statusCode >= 300) {
          throw upstreamError(options.id, `health check answered HTTP ${response.statusCode}.`, true);
        }
      } catch (error) {
        throw fromTransportError(options.id, error, signal);
      }
    },
    async dispose() {
      await pool.close().catch(() => {});
    },
  };
  return backend;
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;
}
