/**
 * The vocabulary of a chat request and its streamed answer, independent of any wire format.
 * `server/openai` translates to and from these; backends consume and produce them.
 */

export type ChatRole = "system" | "user" | "assistant" | "tool";

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text of the arguments, exactly as generated. */
  arguments: string;
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | {
      role: "assistant";
      /** The answer only: any `<think>` block the client echoed back belongs in `reasoning`. */
      content: string;
      /** Reasoning sent back by the client; backends drop it before building the prompt. */
      reasoning?: string;
      toolCalls?: ToolCall[];
    }
  | { role: "tool"; content: string; toolCallId: string };

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters?: JsonSchema;
}

export type ToolChoice = "auto" | "none" | "required" | { name: string };

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: JsonSchema; strict?: boolean };

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema is open-ended by nature
export type JsonSchema = Record<string, any>;

export type ReasoningEffort = "low" | "medium" | "high";

export interface SamplingOptions {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repeatPenalty?: number;
}

export interface ChatRequest {
  /** The model id or alias the client asked for. */
  model: string;
  messages: ChatMessage[];
  sampling: SamplingOptions;
  /** Upper bound on generated tokens (reasoning included), if the client set one. */
  maxTokens?: number;
  stop?: string[];
  responseFormat?: ResponseFormat;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  /** Token budget for the thought segment; undefined means the backend default. */
  maxReasoningTokens?: number;
  reasoningEffort?: ReasoningEffort;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** Prompt tokens served from a reused KV cache instead of being recomputed. */
  cachedPromptTokens: number;
}

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "cancelled";

/** A streamed answer is a sequence of these parts, ending with exactly one `finish` (or an error). */
export type ChatStreamPart =
  | { type: "reasoning-delta"; text: string }
  | { type: "text-delta"; text: string }
  | {
      /**
       * A tool call while it is generated: the first delta of an index carries its id and name,
       * the rest more of its arguments. The whole call follows as a `tool-call` part with the same
       * index (whose arguments are the deltas joined); consumers that want whole calls skip these.
       */
      type: "tool-call-delta";
      index: number;
      id: string;
      name: string;
      argumentsDelta: string;
    }
  | { type: "tool-call"; index: number; call: ToolCall }
  | {
      type: "finish";
      finishReason: FinishReason;
      usage: Usage;
      timings?: GenerationTimings;
      /** The client's stop sequence that ended the answer, when one did (Anthropic reports it). */
      stopSequence?: string;
    };

export interface GenerationTimings {
  /** Milliseconds spent waiting for a free sequence. */
  queueMs: number;
  /** Milliseconds from start of work to the first generated token. */
  promptMs: number;
  /** Milliseconds spent generating after the first token. */
  generationMs: number;
  /**
   * Speculative decoding's drafts for this answer, when the model drafts (prompt lookup or a draft
   * model): how many the model confirmed and how many it refuted. Work, not output: usage counts
   * only generated tokens.
   */
  drafts?: { accepted: number; rejected: number };
}
