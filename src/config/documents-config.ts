import { z } from "zod";

/** An assistant id: it is also a model id, so it stays short and URL-safe. */
export const assistantIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\w.:-]+$/, "letters, digits and . _ - : only");

const assistantEntry = z
  .object({
    /** The model id clients use for this assistant (`/v1/models`, `model` of chat completions). */
    id: assistantIdSchema,
    /** Tenant that owns it; "default" when auth is off. */
    tenant: z.string().min(1).default("default"),
    /** The chat model (id or alias) that answers. */
    model: z.string().min(1),
    instructions: z.string().default(""),
    vectorStoreIds: z.array(z.string().min(1)).default([]),
    /** Passages retrieved per question. */
    maxNumResults: z.number().int().min(1).max(50).default(5),
    /** Named policy applied to its chats; the tenant's when absent. */
    policy: z.string().min(1).optional(),
    description: z.string().optional(),
  })
  .strict();

export type AssistantConfig = z.infer<typeof assistantEntry>;

const documentsSection = z
  .object({
    /** Model id (or alias) that embeds chunks and queries; the first model with embeddings when absent. */
    embeddingModel: z.string().min(1).optional(),
    /**
     * A cross-encoder GGUF (e.g. bge-reranker-v2-m3) for the optional rerank step, as a file path;
     * no rerank when absent.
     */
    rerankerModel: z.string().min(1).optional(),
    /** Largest upload `POST /v1/files` accepts (multipart body), e.g. "64MiB". */
    maxUploadBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Largest document that is parsed and indexed; bigger files are kept with an error status. */
    maxFileBytes: z
      .number()
      .int()
      .positive()
      .default(32 * 1024 * 1024),
    /** Extracted text beyond this many characters marks the file as too large to index. */
    maxTextChars: z.number().int().positive().default(5_000_000),
    /** OpenAI's `auto` chunking: 800 tokens with 400 overlap. */
    chunkTokens: z.number().int().min(100).max(4096).default(800),
    chunkOverlapTokens: z.number().int().min(0).default(400),
    /** Reciprocal rank fusion: constant k and the weight of each list. */
    rrfK: z.number().int().min(1).default(60),
    keywordWeight: z.number().min(0).default(1),
    vectorWeight: z.number().min(0).default(1),
    /** Candidates taken from each list before fusion (and given to the reranker). */
    candidates: z.number().int().min(5).max(500).default(50),
    /** Weight of the cross-encoder score against the fused score when reranking (0..1). */
    rerankWeight: z.number().min(0).max(1).default(1),
    /**
     * SQLite: from this many chunks on, vector search runs over an in-memory quantized copy
     * (sign-bit prefilter, int8 rescoring) rather than sqlite-vec's exact full scan.
     */
    vectorQuantizeAbove: z.number().int().min(0).default(20_000),
    /** Texts embedded per backend call during ingestion. */
    embedBatch: z.number().int().min(1).max(512).default(16),
  })
  .strict()
  .prefault({});

/**
 * Top-level config keys for documents, vector stores and assistants. Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const documentsConfigShape = {
  documents: documentsSection,
  /** Named assistants (model + instructions + vector stores + policy), listed in `/v1/models`. */
  assistants: z.array(assistantEntry).default([]),
};

export type DocumentsConfig = z.infer<typeof documentsSection>;
