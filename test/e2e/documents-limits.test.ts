import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocumentsTestServer, startDocumentsTestServer } from "../../src/documents/testing.ts";
import { encryptedPdf } from "../support/encrypted-pdf.ts";

// Uploads over the size limits and encrypted PDFs: a clear error, and nothing half-stored.

let server: DocumentsTestServer;
let client: OpenAI;
let storeId: string;

const maxUploadBytes = 64 * 1024;
const maxFileBytes = 8 * 1024;

beforeAll(async () => {
  server = await startDocumentsTestServer({ config: { documents: { maxUploadBytes, maxFileBytes } } });
  client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.a, maxRetries: 0 });
  storeId = (await client.vectorStores.create({ name: "limits" })).id;
}, 120_000);

afterAll(async () => {
  await server?.close();
});

async function upload(name: string, content: Buffer) {
  return client.files.create({ file: await toFile(content, name), purpose: "assistants" });
}

async function settledFile(fileId: string) {
  for (let attempt = 0; attempt < 600; attempt++) {
    const file = await client.vectorStores.files.retrieve(fileId, { vector_store_id: storeId });
    if (file.status !== "in_progress") return file;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("ingestion did not finish");
}

async function chunksOf(fileId: string) {
  return server.store.db.selectFrom("document_chunks").select("id").where("file_id", "=", fileId).execute();
}

async function found(query: string) {
  return (await client.vectorStores.search(storeId, { query, max_num_results: 10 })).data.filter((hit) =>
    hit.content.some((part) => part.text.includes(query)),
  );
}

describe("uploads over the size limits", () => {
  it("refuses one over documents.maxUploadBytes with 413 in OpenAI's error shape, storing nothing", async () => {
    const before = await server.store.db.selectFrom("document_files").select("id").execute();
    const big = Buffer.from(`Oversizedquill ${"lorem ipsum ".repeat(maxUploadBytes / 6)}`);
    const refused = await upload("big.txt", big).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused).toMatchObject({
      status: 413,
      type: "invalid_request_error",
      code: "payload_too_large",
      message: expect.stringMatching(/maxUploadBytes/),
    });
    // The raw body, as any other client sees it.
    const form = new FormData();
    form.append("purpose", "assistants");
    form.append("file", new Blob([big]), "big.txt");
    const response = await fetch(`${server.baseUrl}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.a}` },
      body: form,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: {
        message: expect.stringMatching(/documents\.maxUploadBytes/),
        type: "invalid_request_error",
        param: null,
        code: "payload_too_large",
      },
    });
    expect(await server.store.db.selectFrom("document_files").select("id").execute()).toEqual(before);
    const listed = await client.files.list();
    expect(listed.data.filter((file) => file.filename === "big.txt")).toEqual([]);
    expect(await found("Oversizedquill")).toEqual([]);
  });

  it("keeps one over documents.maxFileBytes with a too-large status, and indexes none of it", async () => {
    const text = `Overlongmarten ${"dolor sit amet ".repeat(maxFileBytes / 10)}`;
    const file = await upload("long.txt", Buffer.from(text));
    expect(file.status).toBe("error");
    expect(file.status_details).toMatch(/documents\.maxFileBytes/);
    await client.vectorStores.files.create(storeId, { file_id: file.id });
    const stored = await settledFile(file.id);
    expect(stored.status).toBe("failed");
    expect(stored.last_error).toMatchObject({
      code: "invalid_file",
      message: expect.stringMatching(/maxFileBytes/),
    });
    expect(await chunksOf(file.id)).toEqual([]);
    expect(await found("Overlongmarten")).toEqual([]);
  });
});

describe("encrypted PDFs", () => {
  it("records a password-protected PDF as encrypted, on the file and the store file, and indexes nothing", async () => {
    const pdf = encryptedPdf({
      text: "Lockedpelican clause: the bonus is paid in March.",
      userPassword: "s3cret",
      ownerPassword: "owner",
    });
    const file = await upload("locked.pdf", pdf);
    expect(file.status).toBe("error");
    expect(file.status_details).toMatch(/encrypted.*password/);
    await client.vectorStores.files.create(storeId, { file_id: file.id });
    const stored = await settledFile(file.id);
    expect(stored.status).toBe("failed");
    expect(stored.last_error).toMatchObject({
      code: "invalid_file",
      message: expect.stringMatching(/encrypted/),
    });
    expect(await chunksOf(file.id)).toEqual([]);
    const row = await server.store.db
      .selectFrom("document_files")
      .select(["parsed"])
      .where("id", "=", file.id)
      .executeTakeFirstOrThrow();
    expect(row.parsed).toBeNull();
    const store = await client.vectorStores.retrieve(storeId);
    expect(store.file_counts.completed).toBe(0);
    expect(await found("Lockedpelican")).toEqual([]);
  });

  it("indexes one encrypted with an empty user password (owner restrictions only), as readers open it", async () => {
    const pdf = encryptedPdf({
      text: "Openheron clause: the bonus is paid in April.",
      userPassword: "",
      ownerPassword: "owner",
    });
    const file = await upload("restricted.pdf", pdf);
    expect(file.status).toBe("processed");
    await client.vectorStores.files.create(storeId, { file_id: file.id });
    expect((await settledFile(file.id)).status).toBe("completed");
    const hits = await found("Openheron");
    expect(hits.map((hit) => hit.filename)).toEqual(["restricted.pdf"]);
  });
});
