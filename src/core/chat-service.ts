import type { Jurisdiction, ModelDescriptor } from "./backend.ts";
import type { ChatRequest, ChatStreamPart } from "./chat.ts";
import type { Principal } from "./principal.ts";

/** What the residency policy did to one request, in a form every response can carry. */
export interface PolicySummary {
  /** Named policy applied. */
  policy: string;
  /** Data class derived from detections and the request header: public, internal, personal, secret. */
  dataClass: string;
  /** allow | keep-local | pseudonymise | block. */
  action: string;
  /**
   * Distinct detected values by type, e.g. `{ email: 2, iban: 1 }` (an address written twice counts
   * once); counts only, never values.
   */
  detections: Record<string, number>;
  /** Human-readable, e.g. "2 emails pseudonymised". */
  summary: string;
}

/** Where an answer was computed and what policy decided: sent as `x-bastion-*` headers and a `bastion` object. */
export interface ChatEvidence {
  /** The backend that served the request (after fallback). */
  backend: string;
  jurisdiction: Jurisdiction;
  policy: PolicySummary;
  /** What the request cost, set by metering once the answer is complete (absent before, or without metering). */
  usage?: { costEur: number; energyWh: number; co2eG: number };
}

export interface ChatServiceContext {
  signal: AbortSignal;
  requestId: string;
  /** The endpoint that received the request, e.g. `/v1/chat/completions`, `/api/chat`, `/v1/messages`. */
  endpoint: string;
  /** Absent when auth is off. */
  principal?: Principal;
  /** Data class the client declared (header `x-bastion-data-class`), if any. */
  declaredDataClass?: string;
  /**
   * The residency policy this chat runs under when it is not its principal's (an assistant's own
   * policy). Carried here rather than in a copy of the principal: limits and budgets find a
   * request's reservations by its principal object.
   */
  policy?: string;
  /**
   * The caller reads the whole answer before it sends any of it (a non-stream request): the
   * gateway then reads the backend's answer to its end before the first part, so that a failure
   * mid-answer is retried or falls back to the next candidate instead of failing the request.
   */
  buffered?: boolean;
}

/** One chat request admitted and started: the model that serves it, the evidence, and the parts. */
export interface ChatSession {
  model: ModelDescriptor;
  /** Known once the session is open; `backend` may change only before the first part on fallback, and the final value is read after the stream ends. */
  evidence(): ChatEvidence;
  parts: AsyncIterable<ChatStreamPart>;
}

/**
 * The one way the HTTP dialects (OpenAI, Ollama, Anthropic, Responses) run a chat: the gateway
 * implements it (policy, routing, fallback, pseudonymisation, metering, audit); dialects only
 * translate to and from `core/`.
 */
export interface ChatService {
  /** Resolves the model, applies policy and limits, and starts the stream. Throws `BastionError` before any part. */
  open(request: ChatRequest, context: ChatServiceContext): Promise<ChatSession>;
}
