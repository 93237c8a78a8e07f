import type { ChatRequest, ChatStreamPart } from "./chat.ts";

/** Where a backend runs and under which law. */
export interface Jurisdiction {
  /** ISO 3166-1 alpha-2 country code, e.g. "FR". */
  country: string;
  /**
   * Legal zone: "local" (this server), "EU", "EEA", "adequacy" (an EU adequacy decision covers the
   * country), or "other".
   */
  zone: string;
  operator: string;
  /**
   * Whether the operator is subject to non-EU law with extraterritorial reach (a US provider's
   * Frankfurt region sits in the EU but under the CLOUD Act). Absent means false.
   */
  extraterritorial?: boolean;
}

/** EUR per million tokens. */
export interface Pricing {
  inputPerMillion: number;
  outputPerMillion: number;
}

export interface ModelCapabilities {
  chat: boolean;
  reasoning: boolean;
  tools: boolean;
  jsonSchema: boolean;
  embeddings: boolean;
}

/** Where a model's weights come from: sovereignty starts with knowing who published them. */
export interface ModelProvenance {
  /** Licence id (SPDX where one exists) and where to read it. */
  licence?: { id: string; url?: string };
  /** Who trained the weights, and the country of their seat. */
  publisher?: { name: string; country?: string };
  /** What was pulled: a catalog name, `hf:owner/repo/file`, or a URL. */
  source?: string;
}

/** What `/v1/models` shows about a model. */
export interface ModelDescriptor {
  id: string;
  aliases: string[];
  ownedBy: string;
  created: number;
  architecture?: string;
  parameterCount?: number;
  quantization?: string;
  contextLength?: number;
  trainedContextLength?: number;
  /** Length of the vectors `embed` returns, when known before embedding anything. */
  embeddingDimensions?: number;
  chatTemplate?: string;
  sizeBytes?: number;
  path?: string;
  loaded: boolean;
  capabilities: ModelCapabilities;
  /** True for synthetic models whose weights are random: their text is gibberish. */
  synthetic?: boolean;
  warning?: string;
  provenance?: ModelProvenance;
}

export interface ChatCallOptions {
  signal: AbortSignal;
}

/** Every backend, local or remote, is one of these. */
export interface ModelBackend {
  readonly id: string;
  readonly jurisdiction: Jurisdiction;
  readonly pricing: Pricing;
  describe(): ModelDescriptor;
  chat(request: ChatRequest, options: ChatCallOptions): AsyncIterable<ChatStreamPart>;
  embed?(inputs: string[], options: ChatCallOptions): Promise<EmbeddingResult>;
  /**
   * Prompt tokens the request would take with this model's tokenizer and chat template (tools
   * included), without generating; used by Anthropic's `count_tokens` and `message_start` usage.
   */
  countTokens?(request: ChatRequest, options: ChatCallOptions): Promise<number>;
}

export interface EmbeddingResult {
  vectors: Float32Array[];
  promptTokens: number;
}

/** The set of models a server exposes; resolves ids and aliases to backends. */
export interface ModelRegistry {
  list(): Promise<ModelDescriptor[]>;
  /** The backend for a model id or alias, or undefined when there is none. */
  get(idOrAlias: string): ModelBackend | undefined;
  /** Whether every configured model can take requests now (used by `/ready`). */
  readiness(): { ready: boolean; reason?: string };
}
