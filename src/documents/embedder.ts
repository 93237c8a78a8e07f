import type { ModelBackend, ModelRegistry } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";
import { loadVocabularyTokenizer } from "../engine/vocabulary-tokenizer.ts";
import type { PolicyEngine } from "../policy/types.ts";
import { approximateTokenizer, type TextTokenizer } from "./tokenizer.ts";

/** The embedding model documents use, with its tokenizer; resolved on first use. */
export interface Embedder {
  /** Undefined when no model can embed: search is then keyword-only. */
  resolve(): Promise<ResolvedEmbedder | undefined>;
  dispose(): Promise<void>;
}

export interface ResolvedEmbedder {
  model: string;
  backend: ModelBackend;
  tokenizer: TextTokenizer;
  /** Whether raw text may be sent to it: a local backend always, a remote one as the policy says. */
  remote: boolean;
  embed(texts: string[], signal: AbortSignal): Promise<Float32Array[]>;
}

export interface EmbedderOptions {
  registry: ModelRegistry;
  /** Model id or alias; the first model with embeddings when absent. */
  model?: string;
  policy?: PolicyEngine;
}

/**
 * Resolves the embedding model from the registry. Its tokenizer is the model's own (vocabulary
 * loaded without weights) for local GGUF models; for remote ones, an approximation (documented).
 * Before any chunk leaves for a remote backend, the policy inspects it; a chunk the policy keeps
 * local fails the ingestion with a message that names the detection types.
 */
export function createEmbedder(options: EmbedderOptions): Embedder {
  let resolved: Promise<ResolvedEmbedder | undefined> | undefined;
  let dispose: (() => Promise<void>) | undefined;

  async function build(): Promise<ResolvedEmbedder | undefined> {
    let backend: ModelBackend | undefined;
    if (options.model !== undefined) {
      backend = options.registry.get(options.model);
      if (backend === undefined)
        throw new BastionError(
          "model_not_found",
          `documents.embeddingModel is '${options.model}', which is not a configured model.`,
        );
    } else {
      const candidates = await options.registry.list();
      const first = candidates.find((model) => model.capabilities.embeddings);
      backend = first === undefined ? undefined : options.registry.get(first.id);
    }
    if (backend?.embed === undefined) return undefined;
    const descriptor = backend.describe();
    const remote = backend.jurisdiction.zone !== "local";
    let tokenizer: TextTokenizer = approximateTokenizer;
    if (!remote && descriptor.path !== undefined) {
      try {
        const vocabulary = await loadVocabularyTokenizer(descriptor.path);
        tokenizer = { name: descriptor.id, count: vocabulary.count };
        dispose = vocabulary.dispose;
      } catch {
        // The approximation still gives sane chunk sizes; the model will say if an input is too long.
      }
    }
    const chosen = backend;
    const embedFn = chosen.embed!.bind(chosen);
    return {
      model: descriptor.id,
      backend: chosen,
      tokenizer,
      remote,
      async embed(texts, signal) {
        if (remote && options.policy !== undefined) {
          for (const text of texts) assertMayLeave(options.policy, text, chosen);
        }
        const result = await embedFn(texts, { signal });
        return result.vectors;
      },
    };
  }

  return {
    resolve() {
      resolved ??= build().catch((error: unknown) => {
        resolved = undefined;
        throw error;
      });
      return resolved;
    },
    async dispose() {
      await dispose?.();
    },
  };
}

/** Fails closed: a chunk whose data class may not go where the backend is stays here. */
function assertMayLeave(policy: PolicyEngine, text: string, backend: ModelBackend): void {
  const inspection = policy.inspectText(text);
  const zones = inspection.allowed.zones;
  const zoneAllowed = zones === "any" || zones.includes(backend.jurisdiction.zone);
  const operatorAllowed =
    backend.jurisdiction.extraterritorial !== true || inspection.allowed.extraterritorial;
  const backendAllowed =
    inspection.allowed.backends === undefined || inspection.allowed.backends.includes(backend.id);
  if (inspection.action === "block" || !zoneAllowed || !operatorAllowed || !backendAllowed) {
    const types = Object.keys(inspection.counts).join(", ") || inspection.dataClass;
    throw new BastionError(
      "forbidden",
      `Policy '${inspection.policy}' keeps this document's data (${types}) away from the embedding backend '${backend.id}' (${backend.jurisdiction.zone}); configure a local embedding model in documents.embeddingModel.`,
    );
  }
}
