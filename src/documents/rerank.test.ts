import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { EmbeddingResult, ModelBackend } from "../core/backend.ts";
import { loadRanker, type Ranker } from "../engine/ranker.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createDocumentService, type DocumentService, type SearchHit } from "./document-service.ts";
import { foldText } from "./index/chunk-index.ts";

/** Bag-of-words vectors: texts that share words are close, so the vector list is not noise. */
function wordEmbedder(): ModelBackend {
  const backend = createScriptedBackend({ id: "words", embeddings: true });
  return {
    ...backend,
    describe: () => ({ ...backend.describe(), id: "words" }),
    async embed(inputs: string[]): Promise<EmbeddingResult> {
      return {
        vectors: inputs.map((input) => {
          const vector = new Float32Array(64);
          for (const word of foldText(input).match(/[\p{L}\p{N}]{3,}/gu) ?? []) {
            let hash = 0;
            for (const char of word) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
            vector[hash % 64]! += 1;
          }
          return vector;
        }),
        promptTokens: inputs.length,
      };
    },
  };
}

const passages = [
  "Le chat dort sur le canapé du salon après le déjeuner.",
  "Le chien du voisin aboie quand le chat traverse le jardin.",
  "Die Katze schläft auf dem Sofa, der Hund im Garten.",
  "Il gatto dorme sul divano del soggiorno.",
  "El gato duerme en el sofá del salón.",
  "Le salon de l'automobile ouvre ses portes en octobre.",
  "Der Umsatz des Quartals stieg um zehn Prozent.",
  "Le déjeuner est servi au salon à midi.",
];
const query = "chat salon canapé déjeuner";

/** A ranker that delegates to the real cross-encoder and records what it was asked. */
function recording(inner: Ranker) {
  const calls: Array<{ query: string; documents: string[] }> = [];
  const ranker: Ranker = {
    path: inner.path,
    rank(q, documents) {
      calls.push({ query: q, documents });
      return inner.rank(q, documents);
    },
    dispose: async () => undefined,
  };
  return { ranker, calls };
}

const round = (score: number) => Math.round(score * 1e6) / 1e6;

describe.each(testDatabases())("hybrid search with the synthetic cross-encoder on $name", ({ open }) => {
  let crossEncoder: Ranker;
  let store: Store;
  let storeId: string;
  const services: DocumentService[] = [];

  function service(extra: Record<string, unknown>, ranker?: Ranker): DocumentService {
    const created = createDocumentService({
      store,
      registry: createStaticRegistry([wordEmbedder()]),
      config: { ...configSchema.parse({}).documents, ...extra },
      ...(ranker === undefined ? {} : { ranker: async () => ranker }),
    });
    services.push(created);
    return created;
  }

  /** Every chunk of the store in fused order, with its fused score (no rerank). */
  async function fused(documents: DocumentService): Promise<SearchHit[]> {
    return documents.search("t1", [storeId], { query, ranker: "none", maxNumResults: 50 });
  }

  beforeAll(async () => {
    crossEncoder = await loadRanker({ path: await syntheticTestModel("tiny-reranker"), threads: 1 });
  }, 120_000);
  afterAll(async () => {
    await crossEncoder?.dispose();
  });

  beforeEach(async () => {
    store = await open();
    const documents = service({});
    storeId = (await documents.createVectorStore("t1", { name: "pets" })).id;
    for (const [at, text] of passages.entries()) {
      const file = await documents.createFile("t1", {
        filename: `p${at}.txt`,
        purpose: "assistants",
        content: Buffer.from(text),
      });
      await documents.addFile("t1", storeId, { fileId: file.id });
    }
    await documents.idle();
  });

  afterEach(async () => {
    for (const created of services.splice(0)) await created.dispose();
    await store.destroy();
  });

  it("reranks every fused candidate through createRankingContext and returns its scores", async () => {
    const { ranker, calls } = recording(crossEncoder);
    const documents = service({}, ranker);
    const candidates = await fused(documents);
    expect(calls).toHaveLength(0); // ranker "none" skips it
    expect(candidates).toHaveLength(passages.length);

    const hits = await documents.search("t1", [storeId], { query, maxNumResults: 3 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.query).toBe(query);
    // The pool is the fused candidates, in fused order.
    expect(calls[0]!.documents).toEqual(candidates.map((hit) => hit.text));

    const scores = await crossEncoder.rank(
      query,
      candidates.map((hit) => hit.text),
    );
    const expected = candidates
      .map((hit, at) => ({ chunkId: hit.chunkId, score: round(scores[at]!) }))
      .sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
      .slice(0, 3);
    expect(hits.map((hit) => ({ chunkId: hit.chunkId, score: hit.score }))).toEqual(expected);
    // The cross-encoder's scores, not the fused ranks: the fused top score is 1 by construction.
    expect(candidates[0]!.score).toBe(1);
    expect(hits.map((hit) => hit.chunkId)).not.toEqual(candidates.slice(0, 3).map((hit) => hit.chunkId));
  });

  it("blends cross-encoder and fused scores by documents.rerankWeight", async () => {
    const candidates = await fused(service({}));
    const fusedScore = new Map(candidates.map((hit) => [hit.chunkId, hit.score]));
    const scores = await crossEncoder.rank(
      query,
      candidates.map((hit) => hit.text),
    );
    const crossScore = new Map(candidates.map((hit, at) => [hit.chunkId, scores[at]!]));
    const orders: number[][] = [];
    for (const weight of [0, 0.5, 1]) {
      const hits = await service({ rerankWeight: weight }, crossEncoder).search("t1", [storeId], {
        query,
        maxNumResults: passages.length,
      });
      const expected = candidates
        .map((hit) => ({
          chunkId: hit.chunkId,
          score: weight * crossScore.get(hit.chunkId)! + (1 - weight) * fusedScore.get(hit.chunkId)!,
        }))
        .sort((a, b) => b.score - a.score || a.chunkId - b.chunkId);
      expect(hits.map((hit) => hit.chunkId)).toEqual(expected.map((hit) => hit.chunkId));
      for (const [at, hit] of hits.entries()) expect(hit.score).toBeCloseTo(expected[at]!.score, 5);
      orders.push(hits.map((hit) => hit.chunkId));
    }
    // Weight 0 keeps the fused order; weight 1 is the cross-encoder's; they differ here.
    expect(orders[0]).toEqual(candidates.map((hit) => hit.chunkId));
    expect(orders[2]).not.toEqual(orders[0]);
  });

  it("weights the keyword and vector lists in the fusion by keywordWeight and vectorWeight", async () => {
    const documents = service({});
    const keyword = await documents.search("t1", [storeId], { query, mode: "keyword", maxNumResults: 50 });
    const vector = await documents.search("t1", [storeId], { query, mode: "vector", maxNumResults: 50 });
    const keywordOnly = await fused(service({ vectorWeight: 0 }));
    const vectorOnly = await fused(service({ keywordWeight: 0 }));
    expect(keywordOnly.map((hit) => hit.chunkId)).toEqual(keyword.map((hit) => hit.chunkId));
    expect(vectorOnly.map((hit) => hit.chunkId)).toEqual(vector.map((hit) => hit.chunkId));
    expect(keyword.map((hit) => hit.chunkId)).not.toEqual(vector.map((hit) => hit.chunkId));
  });

  it("reranks on request when asked to, and not when the store search says none", async () => {
    const { ranker, calls } = recording(crossEncoder);
    const documents = service({}, ranker);
    await documents.search("t1", [storeId], { query, ranker: "default-2024-11-15" });
    await documents.search("t1", [storeId], { query, ranker: "auto" });
    expect(calls).toHaveLength(2);
    await documents.search("t1", [storeId], { query, ranker: "none" });
    expect(calls).toHaveLength(2);
  });
});
