import type {
  ChatCallOptions,
  Jurisdiction,
  ModelBackend,
  ModelDescriptor,
  ModelProvenance,
  Pricing,
} from "../core/backend.ts";
import type { ChatRequest, ChatStreamPart } from "../core/chat.ts";
import type { ModelFileInfo } from "../engine/model-info.ts";
import type { ModelPool } from "../engine/model-pool.ts";
import type { ModelRunnerInfo } from "../engine/model-runner.ts";

export interface LocalBackendOptions {
  id: string;
  aliases: readonly string[];
  pool: ModelPool;
  jurisdiction: Jurisdiction;
  /** EUR per million tokens; local inference is priced by its energy and hardware share. */
  pricing?: Pricing;
  createdAt: number;
  path: string;
  /** Read from the GGUF header at start-up, so `/v1/models` is informative before the first load. */
  fileInfo: ModelFileInfo;
  /** Tokens per sequence the model is configured for. */
  contextSize: number;
  provenance?: ModelProvenance;
  /** A problem with the engine that serves this model (the node-llama-cpp patch missing). */
  engineWarning?: string;
}

/** A model served in-process by llama.cpp, loaded on demand through the model pool. */
export function createLocalBackend(options: LocalBackendOptions): ModelBackend {
  let info: ModelRunnerInfo | undefined;

  async function* chat(request: ChatRequest, call: ChatCallOptions): AsyncIterable<ChatStreamPart> {
    const lease = await options.pool.acquire(options.id);
    try {
      info = lease.runner.info;
      yield* lease.runner.generate(request, call);
    } finally {
      lease.release();
    }
  }

  return {
    id: options.id,
    jurisdiction: options.jurisdiction,
    pricing: options.pricing ?? { inputPerMillion: 0, outputPerMillion: 0 },
    describe(): ModelDescriptor {
      const file = info ?? options.fileInfo;
      const warnings = [
        ...(file.synthetic
          ? ["Synthetic model: random weights, its text is gibberish. For tests and benchmarks only."]
          : []),
        ...(options.engineWarning === undefined ? [] : [options.engineWarning]),
      ];
      return {
        id: options.id,
        aliases: [...options.aliases],
        ownedBy: "bastion",
        created: options.createdAt,
        path: options.path,
        loaded: options.pool.isLoaded(options.id),
        capabilities: file.capabilities,
        contextLength:
          info?.contextLength ??
          Math.min(options.contextSize, file.trainedContextLength ?? options.contextSize),
        ...(file.architecture === undefined ? {} : { architecture: file.architecture }),
        ...(file.parameterCount === undefined ? {} : { parameterCount: file.parameterCount }),
        ...(file.quantization === undefined ? {} : { quantization: file.quantization }),
        ...(file.trainedContextLength === undefined
          ? {}
          : { trainedContextLength: file.trainedContextLength }),
        ...(file.embeddingLength === undefined ? {} : { embeddingDimensions: file.embeddingLength }),
        chatTemplate: file.chatTemplateFamily,
        sizeBytes: file.sizeBytes,
        synthetic: file.synthetic,
        ...(warnings.length === 0 ? {} : { warning: warnings.join(" ") }),
        ...(options.provenance === undefined ? {} : { provenance: options.provenance }),
      };
    },
    chat,
    async embed(inputs, call) {
      const lease = await options.pool.acquire(options.id);
      try {
        info = lease.runner.info;
        return await lease.runner.embed(inputs, call);
      } finally {
        lease.release();
      }
    },
    async countTokens(request) {
      // Counting needs the model's tokenizer and template, so it loads the model like a chat would.
      const lease = await options.pool.acquire(options.id);
      try {
        info = lease.runner.info;
        return lease.runner.countTokens(request);
      } finally {
        lease.release();
      }
    },
  };
}
