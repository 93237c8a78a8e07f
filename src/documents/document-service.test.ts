import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { EmbeddingResult, ModelBackend } from "../core/backend.ts";
import { createPolicyEngine } from "../policy/index.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createDocumentService, type DocumentService, type IngestionEvent } from "./document-service.ts";
import { foldText } from "./index/chunk-index.ts";

/**
 * A bag-of-words embedder: each word hashed into one of 64 dimensions. Texts that share words get
 * close vectors, so vector search has something real to find; the store, not the model, is tested.
 */
function wordEmbedder(
  id: string,
  options: { zone?: string; delayMs?: number; fail?: boolean } = {},
): ModelBackend {
  const backend = createScriptedBackend({ id, embeddings: true });
  return {
    ...backend,
    jurisdiction: { country: "XX", zone: options.zone ?? "local", operator: "test" },
    describe: () => ({ ...backend.describe(), id }),
    async embed(inputs: string[]): Promise<EmbeddingResult> {
      if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (options.fail === true) throw new Error("embedding backend exploded");
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

const documentsConfig = configSchema.parse({}).documents;
const policy = createPolicyEngine(configSchema.parse({}).policies);

describe.each(testDatabases())("document service on $name", ({ open }) => {
  let store: Store;
  const services: DocumentService[] = [];
  const events: IngestionEvent[] = [];

  function service(embedder: ModelBackend, extra: Partial<typeof documentsConfig> = {}): DocumentService {
    const created = createDocumentService({
      store,
      registry: createStaticRegistry([embedder]),
      config: { ...documentsConfig, ...extra },
      policy,
      onEvent: (event) => events.push(event),
    });
    services.push(created);
    return created;
  }

  async function addText(
    documents: DocumentService,
    storeId: string,
    name: string,
    text: string,
    attributes = {},
  ) {
    const file = await documents.createFile("t1", {
      filename: name,
      purpose: "assistants",
      content: Buffer.from(text),
    });
    await documents.addFile("t1", storeId, { fileId: file.id, attributes });
    return file;
  }

  beforeEach(async () => {
    store = await open();
    events.length = 0;
  });

  afterEach(async () => {
    for (const created of services.splice(0)) await created.dispose();
    await store.destroy();
  });

  it("finds passages by keyword, by vector and by both, within the tenant's stores only", async () => {
    const documents = service(wordEmbedder("words"));
    const vs = await documents.createVectorStore("t1", { name: "kb" });
    await addText(documents, vs.id, "trains.txt", "Night trains leave Vienna for Venice at ten.");
    await addText(documents, vs.id, "cheese.txt", "Comté matures for eighteen months in Jura cellars.", {
      kind: "food",
    });
    await documents.idle();
    const keyword = await documents.search("t1", [vs.id], { query: "comte cellars", mode: "keyword" });
    expect(keyword[0]?.filename).toBe("cheese.txt");
    const vector = await documents.search("t1", [vs.id], { query: "Vienna Venice trains", mode: "vector" });
    expect(vector[0]?.filename).toBe("trains.txt");
    const hybrid = await documents.search("t1", [vs.id], { query: "night trains", maxNumResults: 1 });
    expect(hybrid.map((hit) => hit.filename)).toEqual(["trains.txt"]);
    expect(hybrid[0]!.score).toBeGreaterThan(0);
    expect(hybrid[0]!.score).toBeLessThanOrEqual(1);
    const filtered = await documents.search("t1", [vs.id], {
      query: "trains cellars",
      filters: { type: "eq", key: "kind", value: "food" },
    });
    expect(filtered.map((hit) => hit.filename)).toEqual(["cheese.txt"]);
    await expect(documents.search("t2", [vs.id], { query: "trains" })).rejects.toMatchObject({
      code: "not_found",
    });
    const stored = await documents.getVectorStore("t1", vs.id);
    expect(stored).toMatchObject({ embedding_model: "words", embedding_dimensions: 64 });
  });

  it("searches the quantized in-memory vectors like the exact index", async () => {
    const documents = service(wordEmbedder("words"), { vectorQuantizeAbove: 0 });
    const vs = await documents.createVectorStore("t1", {});
    await addText(documents, vs.id, "trains.txt", "Night trains leave Vienna for Venice at ten.");
    await addText(documents, vs.id, "cheese.txt", "Comté matures for eighteen months in Jura cellars.", {
      kind: "food",
    });
    await documents.idle();
    const vector = await documents.search("t1", [vs.id], { query: "Vienna Venice trains", mode: "vector" });
    expect(vector[0]?.filename).toBe("trains.txt");
    const filtered = await documents.search("t1", [vs.id], {
      query: "Vienna Venice trains",
      mode: "vector",
      filters: { type: "eq", key: "kind", value: "food" },
    });
    expect(filtered.map((hit) => hit.filename)).toEqual(["cheese.txt"]);
    // A new file is searchable at once: writes drop the in-memory copy.
    await addText(documents, vs.id, "boats.txt", "Ferries cross the lake of Constance hourly.");
    await documents.idle();
    const boats = await documents.search("t1", [vs.id], { query: "ferries lake Constance", mode: "vector" });
    expect(boats[0]?.filename).toBe("boats.txt");
  });

  it("marks a store expired after its expires_after days of inactivity and refuses to search it", async () => {
    const documents = service(wordEmbedder("words"));
    const vs = await documents.createVectorStore("t1", {
      expiresAfter: { anchor: "last_active_at", days: 1 },
    });
    expect(vs.status).toBe("completed");
    expect(vs.expires_at).toBe(vs.last_active_at + 86400);
    await store.db
      .updateTable("vector_stores")
      .set({ last_active_at: vs.last_active_at - 2 * 86400 })
      .execute();
    expect((await documents.getVectorStore("t1", vs.id)).status).toBe("expired");
    await expect(documents.search("t1", [vs.id], { query: "anything" })).rejects.toThrow(/has expired/);
    // Extending it brings it back.
    const extended = await documents.updateVectorStore("t1", vs.id, {
      expiresAfter: { anchor: "last_active_at", days: 7 },
    });
    expect(extended.status).toBe("completed");
  });

  it("records personal data found at ingestion, counts only", async () => {
    const documents = service(wordEmbedder("words"));
    const vs = await documents.createVectorStore("t1", {});
    const file = await addText(
      documents,
      vs.id,
      "hr.txt",
      "Write to jeanne.martin@example.fr or call +33 6 12 34 56 78.",
    );
    await documents.idle();
    expect(file.personal_data.email).toBe(1);
    const stored = await documents.getVectorStore("t1", vs.id);
    expect(stored.personal_data.email).toBe(1);
    expect(JSON.stringify(stored)).not.toContain("jeanne");
  });

  it("keeps personal data away from a remote embedder the policy does not allow", async () => {
    const documents = service(wordEmbedder("remote", { zone: "other" }));
    const vs = await documents.createVectorStore("t1", {});
    const file = await addText(documents, vs.id, "hr.txt", "Contact jeanne.martin@example.fr about payroll.");
    await documents.idle();
    const failed = await documents.getVectorStoreFile("t1", vs.id, file.id);
    expect(failed.status).toBe("failed");
    expect(failed.last_error?.message).toMatch(/Policy 'eu-strict' keeps/);
    const chunks = await store.db.selectFrom("document_chunks").select("id").execute();
    expect(chunks).toEqual([]);
  });

  it("erases a deleted file from the chunk table and both indexes", async () => {
    const documents = service(wordEmbedder("words"));
    const vs = await documents.createVectorStore("t1", {});
    const file = await addText(documents, vs.id, "secret.txt", "Quokkaplan budget is forty million.");
    await addText(documents, vs.id, "other.txt", "Nothing to see here about budgets.");
    await documents.idle();
    expect((await documents.search("t1", [vs.id], { query: "quokkaplan" }))[0]?.fileId).toBe(file.id);
    await documents.deleteFile("t1", file.id);
    for (const mode of ["keyword", "vector", "hybrid"] as const) {
      const hits = await documents.search("t1", [vs.id], { query: "Quokkaplan budget forty million", mode });
      expect(hits.every((hit) => hit.fileId !== file.id && !hit.text.includes("Quokkaplan"))).toBe(true);
    }
    const left = await store.db.selectFrom("document_chunks").select("text").execute();
    expect(left.some((row) => row.text.includes("Quokkaplan"))).toBe(false);
  });

  it("keeps a file over documents.maxFileBytes with an error status, and never indexes it", async () => {
    const documents = service(wordEmbedder("words"), { maxFileBytes: 64 });
    const vs = await documents.createVectorStore("t1", {});
    const file = await addText(documents, vs.id, "big.txt", "x ".repeat(100));
    expect(file.status).toBe("error");
    expect(file.status_details).toMatch(/documents\.maxFileBytes allows 64/);
    const member = await documents.getVectorStoreFile("t1", vs.id, file.id);
    expect(member).toMatchObject({ status: "failed", last_error: { code: "invalid_file" } });
    expect(await store.db.selectFrom("document_chunks").select("id").execute()).toEqual([]);
  });

  it("fails an ingestion whose embedder breaks, leaving no chunk behind", async () => {
    const documents = service(wordEmbedder("broken", { fail: true }));
    const vs = await documents.createVectorStore("t1", {});
    const file = await addText(documents, vs.id, "a.txt", "Some text that will not be embedded.");
    await documents.idle();
    const failed = await documents.getVectorStoreFile("t1", vs.id, file.id);
    expect(failed).toMatchObject({ status: "failed", last_error: { code: "server_error" } });
    expect(await store.db.selectFrom("document_chunks").select("id").execute()).toEqual([]);
  });

  it("cancels a batch: nothing of the cancelled files is indexed", async () => {
    const documents = service(wordEmbedder("slow", { delayMs: 300 }), { embedBatch: 1 });
    const vs = await documents.createVectorStore("t1", {});
    const ids: string[] = [];
    for (let at = 0; at < 3; at++) {
      const text = Array.from(
        { length: 40 },
        (_, line) => `Paragraph ${line} of file ${at} about rivers.`,
      ).join("\n\n");
      const file = await documents.createFile("t1", {
        filename: `f${at}.txt`,
        purpose: "assistants",
        content: Buffer.from(text),
      });
      ids.push(file.id);
    }
    const batch = await documents.createBatch("t1", vs.id, { fileIds: ids });
    expect(batch.status).toBe("in_progress");
    const cancelled = await documents.cancelBatch("t1", vs.id, batch.id);
    expect(cancelled.status).toBe("cancelled");
    await documents.idle();
    expect(cancelled.file_counts.cancelled).toBe(3);
    expect(await store.db.selectFrom("document_chunks").select("id").execute()).toEqual([]);
  });

  it("refuses a mismatched embedding model until the store is reindexed, then resumes", async () => {
    const first = service(wordEmbedder("model-a"));
    const vs = await first.createVectorStore("t1", {});
    await addText(first, vs.id, "a.txt", "Glaciers retreat in the Alps every summer.");
    await addText(first, vs.id, "b.txt", "Olive harvests start in November.");
    await first.idle();
    const second = service(wordEmbedder("model-b"));
    await expect(second.search("t1", [vs.id], { query: "glaciers" })).rejects.toThrow(
      /bastion documents reindex/,
    );
    const result = await second.reindex("t1", vs.id);
    expect(result).toEqual({ files: 2, reembedded: 2, failed: 0 });
    expect((await second.getVectorStore("t1", vs.id)).embedding_model).toBe("model-b");
    expect((await second.search("t1", [vs.id], { query: "glaciers" }))[0]?.filename).toBe("a.txt");
    // Nothing left to do: a second run re-embeds nothing.
    expect(await second.reindex("t1", vs.id)).toEqual({ files: 2, reembedded: 0, failed: 0 });
  });

  it("resumes an interrupted reindex where it stopped", async () => {
    const first = service(wordEmbedder("model-a"));
    const vs = await first.createVectorStore("t1", {});
    for (const name of ["a", "b", "c"])
      await addText(first, vs.id, `${name}.txt`, `File ${name} about rivers.`);
    await first.idle();
    const controller = new AbortController();
    const second = createDocumentService({
      store,
      registry: createStaticRegistry([wordEmbedder("model-b")]),
      config: documentsConfig,
      onEvent: (event) => {
        if (event.type === "completed") controller.abort();
      },
    });
    services.push(second);
    expect(await second.reindex("t1", vs.id, { signal: controller.signal })).toEqual({
      files: 3,
      reembedded: 1,
      failed: 0,
    });
    // Half done: vector search only returns the file already in the new model's space.
    const midway = await second.search("t1", [vs.id], { query: "rivers", mode: "vector" });
    const done = await store.db
      .selectFrom("vector_store_files")
      .select("file_id")
      .where("indexed_model", "=", "model-b")
      .execute();
    expect(midway.map((hit) => hit.fileId)).toEqual(done.map((row) => row.file_id));
    expect(await second.reindex("t1", vs.id)).toEqual({ files: 3, reembedded: 2, failed: 0 });
    const files = await second.listVectorStoreFiles("t1", vs.id, {});
    expect(files.data.map((file) => file.status)).toEqual(["completed", "completed", "completed"]);
  });

  it("does not re-embed a file whose content and model are unchanged", async () => {
    const documents = service(wordEmbedder("words"));
    const one = await documents.createVectorStore("t1", {});
    const two = await documents.createVectorStore("t1", {});
    const file = await addText(documents, one.id, "same.txt", "Identical content, indexed twice.");
    await documents.idle();
    await documents.addFile("t1", two.id, { fileId: file.id });
    await documents.idle();
    const forFile = events.filter((event) => event.fileId === file.id);
    expect(forFile.filter((event) => event.type === "started")).toHaveLength(1);
    expect(forFile.at(-1)).toMatchObject({ type: "completed", vectorStoreId: two.id, reused: true });
    expect((await documents.search("t1", [two.id], { query: "identical" }))[0]?.fileId).toBe(file.id);
  });
});
