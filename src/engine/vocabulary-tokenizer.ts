import { getLlamaRuntime } from "./llama.ts";

/** A model's own tokenizer, loaded without its weights. */
export interface VocabularyTokenizer {
  count(text: string): number;
  dispose(): Promise<void>;
}

/**
 * Loads only the vocabulary of a GGUF model (`vocabOnly`: no weights, no context), so chunking can
 * count tokens exactly as the embedding model will without loading or occupying the model.
 */
export async function loadVocabularyTokenizer(path: string): Promise<VocabularyTokenizer> {
  const llama = await getLlamaRuntime();
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  return {
    count: (text) => model.tokenize(text).length,
    dispose: () => model.dispose(),
  };
}
