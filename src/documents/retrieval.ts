import type { DocumentsConfig } from "../config/documents-config.ts";
import { BastionError } from "../core/errors.ts";
import type { Ranker } from "../engine/ranker.ts";
import type { Store } from "../store/database.ts";
import type { Embedder } from "./embedder.ts";
import { type Attributes, type Filter, matchesFilter } from "./filters.ts";
import { parseJson } from "./ids.ts";
import type { ChunkIndex, IndexHit, IndexScope } from "./index/chunk-index.ts";
import type { VectorStoreTable } from "./tables.ts";

export type RetrievalMode = "hybrid" | "keyword" | "vector";

export interface SearchOptions {
  query: string;
  filters?: Filter;
  maxNumResults?: number;
  /** `none` skips the rerank; `auto` (default) reranks when a reranker is configured. */
  ranker?: "auto" | "none" | "default-2024-11-15";
  scoreThreshold?: number;
  /** Which retrievers run (benchmarks compare them); hybrid by default. */
  mode?: RetrievalMode;
  /** Force the rerank on (benchmarks) or off. */
  rerank?: boolean;
}

/** One retrieved passage, with where it comes from. */
export interface SearchHit {
  chunkId: number;
  vectorStoreId: string;
  fileId: string;
  filename: string;
  attributes: Attributes;
  /** 0..1, higher is better: the cross-encoder's score when reranked, else the normalised fused rank. */
  score: number;
  text: string;
  page: number | null;
  start: number;
  end: number;
}

export interface Retriever {
  search(stores: VectorStoreTable[], options: SearchOptions): Promise<SearchHit[]>;
}

/**
 * Reciprocal rank fusion: each list adds `weight / (k + rank)` for the chunks it ranks. Scores are
 * divided by the best possible value (first in every list), so they fall in 0..1.
 */
export function reciprocalRankFusion(
  lists: Array<{ hits: IndexHit[]; weight: number }>,
  k: number,
): Array<{ id: number; score: number }> {
  const scores = new Map<number, number>();
  let best = 0;
  for (const list of lists) {
    if (list.hits.length === 0 || list.weight === 0) continue;
    best += list.weight / (k + 1);
    for (const [rank, hit] of list.hits.entries()) {
      scores.set(hit.id, (scores.get(hit.id) ?? 0) + list.weight / (k + rank + 1));
    }
  }
  return [...scores.entries()]
    .map(([id, score]) => ({ id, score: best === 0 ? 0 : score / best }))
    .sort((a, b) => b.score - a.score || a.id - b.id);
}

export interface RetrieverOptions {
  store: Store;
  index: ChunkIndex;
  embedder: Embedder;
  config: DocumentsConfig;
  ranker?: () => Promise<Ranker | undefined>;
}

/** Hybrid retrieval: BM25 and vector candidates fused by RRF, then an optional cross-encoder rerank. */
export function createRetriever(options: RetrieverOptions): Retriever {
  const { store, index, embedder, config } = options;
  return {
    async search(stores, search) {
      const limit = search.maxNumResults ?? 10;
      if (!Number.isInteger(limit) || limit < 1 || limit > 50)
        throw new BastionError("invalid_request", "'max_num_results' must be a whole number from 1 to 50.", {
          param: "max_num_results",
        });
      const query = search.query.trim();
      if (query === "")
        throw new BastionError("invalid_request", "'query' must not be empty.", { param: "query" });
      const mode = search.mode ?? "hybrid";
      const vectorStoreIds = stores.map((row) => row.id);
      if (vectorStoreIds.length === 0) return [];
      const files = await store.db
        .selectFrom("vector_store_files")
        .innerJoin("document_files", "document_files.id", "vector_store_files.file_id")
        .select([
          "vector_store_files.file_id",
          "vector_store_files.attributes",
          "vector_store_files.indexed_model",
          "document_files.filename",
        ])
        .where("vector_store_files.vector_store_id", "in", vectorStoreIds)
        .where("vector_store_files.status", "=", "completed")
        .execute();
      const fileInfo = new Map(
        files.map((file) => [
          file.file_id,
          { filename: file.filename, attributes: parseJson<Attributes>(file.attributes, {}) },
        ]),
      );
      const scope: IndexScope = { vectorStoreIds };
      if (search.filters !== undefined) {
        scope.fileIds = [...fileInfo.entries()]
          .filter(([, info]) => matchesFilter(info.attributes, search.filters!))
          .map(([id]) => id);
        if (scope.fileIds.length === 0) return [];
      }
      const candidates = Math.max(config.candidates, limit);
      const lists: Array<{ hits: IndexHit[]; weight: number }> = [];
      if (mode !== "vector")
        lists.push({
          hits: await index.keyword(scope, query, candidates),
          weight: mode === "keyword" ? 1 : config.keywordWeight,
        });
      if (mode !== "keyword") {
        const resolved = await embedder.resolve();
        for (const row of stores) {
          if (
            resolved !== undefined &&
            row.embedding_model !== null &&
            row.embedding_model !== resolved.model
          )
            throw new BastionError(
              "invalid_request",
              `Vector store ${row.id} was embedded with '${row.embedding_model}' (${row.embedding_dimensions} dimensions) but the embedding model is now '${resolved.model}'. Run \`bastion documents reindex ${row.id}\`, or set documents.embeddingModel back to '${row.embedding_model}'.`,
              { param: "vector_store_ids" },
            );
        }
        if (resolved !== undefined && stores.some((row) => row.embedding_model !== null)) {
          const [vector] = await resolved.embed([query], AbortSignal.timeout(60_000));
          // While a reindex runs, files still embedded with the old model stay out of the vector
          // list (their vectors live in another space); keyword search still finds them.
          const stale = files.some((file) => file.indexed_model !== resolved.model);
          const vectorScope: IndexScope = stale
            ? {
                vectorStoreIds,
                fileIds: files
                  .filter((file) => file.indexed_model === resolved.model)
                  .map((file) => file.file_id)
                  .filter((id) => scope.fileIds === undefined || scope.fileIds.includes(id)),
              }
            : scope;
          if (vector !== undefined)
            lists.push({
              hits: await index.vector(vectorScope, vector, candidates),
              weight: mode === "vector" ? 1 : config.vectorWeight,
            });
        }
      }
      let fused = reciprocalRankFusion(lists, config.rrfK);
      const wantRerank = search.rerank ?? (search.ranker !== "none" && options.ranker !== undefined);
      const ranker = wantRerank ? await options.ranker?.() : undefined;
      const pool = fused.slice(0, ranker === undefined ? limit : candidates);
      const chunks = await loadChunks(
        store,
        pool.map((hit) => hit.id),
      );
      if (ranker !== undefined && pool.length > 0) {
        const texts = pool.map((hit) => chunks.get(hit.id)?.text ?? "");
        const scores = await ranker.rank(query, texts);
        const weight = config.rerankWeight;
        fused = pool
          .map((hit, at) => ({ id: hit.id, score: weight * (scores[at] ?? 0) + (1 - weight) * hit.score }))
          .sort((a, b) => b.score - a.score || a.id - b.id);
      } else {
        fused = pool;
      }
      const threshold = search.scoreThreshold ?? 0;
      const out: SearchHit[] = [];
      for (const hit of fused) {
        if (out.length >= limit) break;
        if (hit.score < threshold) continue;
        const chunk = chunks.get(hit.id);
        const info = chunk === undefined ? undefined : fileInfo.get(chunk.file_id);
        if (chunk === undefined || info === undefined) continue;
        out.push({
          chunkId: hit.id,
          vectorStoreId: chunk.vector_store_id,
          fileId: chunk.file_id,
          filename: info.filename,
          attributes: info.attributes,
          score: Math.round(hit.score * 1e6) / 1e6,
          text: chunk.text,
          page: chunk.page,
          start: chunk.start_char,
          end: chunk.end_char,
        });
      }
      return out;
    },
  };
}

async function loadChunks(store: Store, ids: number[]) {
  if (ids.length === 0) return new Map();
  const rows = await store.db
    .selectFrom("document_chunks")
    .select(["id", "vector_store_id", "file_id", "text", "page", "start_char", "end_char"])
    .where("id", "in", ids)
    .execute();
  return new Map(rows.map((row) => [Number(row.id), row]));
}
