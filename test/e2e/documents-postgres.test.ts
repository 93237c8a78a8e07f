import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocumentsTestServer, startDocumentsTestServer } from "../../src/documents/testing.ts";
import { openFreshPostgres } from "../../src/store/test-databases.ts";

// The same API over PostgreSQL (full-text search, in-process cosine): runs when TEST_DATABASE_URL is set.
const url = process.env.TEST_DATABASE_URL;

describe.skipIf(url === undefined || url === "")("files and vector stores on PostgreSQL", () => {
  let server: DocumentsTestServer;
  let clientA: OpenAI;
  let clientB: OpenAI;

  beforeAll(async () => {
    server = await startDocumentsTestServer({ store: await openFreshPostgres(url!) });
    clientA = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.a, maxRetries: 0 });
    clientB = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.b, maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("indexes, searches, isolates tenants and erases a deleted file", async () => {
    const upload = async (name: string, text: string) =>
      clientA.files.create({ file: await toFile(Buffer.from(text), name), purpose: "assistants" });
    const keep = await upload("keep.md", "# Trains\n\nNight trains leave Vienna for Venice at ten.");
    const gone = await upload("gone.txt", "Quokkaplan budget is forty million euros.");
    const store = await clientA.vectorStores.create({ name: "pg", file_ids: [keep.id, gone.id] });
    await server.documents.service.idle();
    expect((await clientA.vectorStores.retrieve(store.id)).file_counts).toMatchObject({ completed: 2 });

    const hits = await clientA.vectorStores.search(store.id, { query: "Quokkaplan budget" });
    expect(hits.data.map((hit) => hit.filename)).toContain("gone.txt");
    const accented = await clientA.vectorStores.search(store.id, { query: "VÉNICE nuit trains" });
    expect(accented.data.map((hit) => hit.filename)).toContain("keep.md");

    await expect(clientB.vectorStores.search(store.id, { query: "budget" })).rejects.toMatchObject({
      status: 404,
    });
    await expect(clientB.files.retrieve(gone.id)).rejects.toMatchObject({ status: 404 });

    await clientA.files.delete(gone.id);
    const after = await clientA.vectorStores.search(store.id, { query: "Quokkaplan budget forty million" });
    expect(after.data.every((hit) => !hit.content[0]!.text.includes("Quokkaplan"))).toBe(true);
    const rows = await server.store.db.selectFrom("document_chunks").select("text").execute();
    expect(rows.some((row) => row.text.includes("Quokkaplan"))).toBe(false);
  });
});
