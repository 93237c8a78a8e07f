import type {
  EmbeddingResult,
  ModelBackend,
  ModelCapabilities,
  ModelDescriptor,
  ModelRegistry,
} from "../../core/backend.ts";
import type { ChatRequest, ChatStreamPart } from "../../core/chat.ts";

/*
 * A backend whose answers are scripted, for unit tests of the wire layer (no llama.cpp). The
 * end-to-end tests drive the real engine instead.
 */

export type ChatScript = (request: ChatRequest, signal: AbortSignal) => AsyncIterable<ChatStreamPart>;

export interface ScriptedBackendOptions {
  id?: string;
  aliases?: string[];
  script?: ChatScript;
  /** Embeds each input as `[length, 1, -0.5]` when true. */
  embeddings?: boolean;
  capabilities?: Partial<ModelCapabilities>;
  descriptor?: Partial<ModelDescriptor>;
}

export interface ScriptedBackend extends ModelBackend {
  /** Every chat call, with the signal the server passed. */
  readonly calls: Array<{ request: ChatRequest; signal: AbortSignal }>;
}

export const defaultUsage = {
  promptTokens: 7,
  completionTokens: 5,
  reasoningTokens: 2,
  cachedPromptTokens: 3,
};

/** Reasoning, then "Hello world", then a `stop` finish with usage and timings. */
export async function* defaultScript(): AsyncIterable<ChatStreamPart> {
  yield { type: "reasoning-delta", text: "Let me " };
  yield { type: "reasoning-delta", text: "think." };
  yield { type: "text-delta", text: "Hello" };
  yield { type: "text-delta", text: " world" };
  yield {
    type: "finish",
    finishReason: "stop",
    usage: defaultUsage,
    timings: { queueMs: 1, promptMs: 2, generationMs: 3 },
  };
}

export function createScriptedBackend(options: ScriptedBackendOptions = {}): ScriptedBackend {
  const id = options.id ?? "test-model";
  const script = options.script ?? defaultScript;
  const calls: ScriptedBackend["calls"] = [];
  const backend: ScriptedBackend = {
    id,
    jurisdiction: { country: "FR", zone: "EU", operator: "test" },
    pricing: { inputPerMillion: 0, outputPerMillion: 0 },
    calls,
    describe: () => ({
      id,
      aliases: options.aliases ?? [],
      ownedBy: "bastion",
      created: 1_700_000_000,
      architecture: "qwen2",
      parameterCount: 1_500_000_000,
      quantization: "Q8_0",
      contextLength: 4096,
      path: "/secret/models/test.gguf",
      loaded: true,
      synthetic: true,
      warning: "random weights",
      capabilities: {
        chat: true,
        reasoning: true,
        tools: true,
        jsonSchema: true,
        embeddings: options.embeddings === true,
        ...options.capabilities,
      },
      ...options.descriptor,
    }),
    chat(request, { signal }) {
      calls.push({ request, signal });
      return script(request, signal);
    },
  };
  if (options.embeddings === true) {
    backend.embed = async (inputs: string[]): Promise<EmbeddingResult> => ({
      vectors: inputs.map((input) => Float32Array.from([input.length, 1, -0.5])),
      promptTokens: inputs.reduce((sum, input) => sum + input.length, 0),
    });
  }
  return backend;
}

/** A registry over fixed backends, resolving ids and aliases. */
export function createStaticRegistry(
  backends: ModelBackend[],
  readiness: () => { ready: boolean; reason?: string } = () => ({ ready: true }),
): ModelRegistry {
  return {
    list: async () => backends.map((backend) => backend.describe()),
    get: (idOrAlias) =>
      backends.find((backend) => {
        const descriptor = backend.describe();
        return descriptor.id === idOrAlias || descriptor.aliases.includes(idOrAlias);
      }),
    readiness,
  };
}
