import JSZip from "jszip";
import OpenAI, { toFile } from "openai";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocumentsTestServer, startDocumentsTestServer } from "../../src/documents/testing.ts";

let server: DocumentsTestServer;
let clientA: OpenAI;
let clientB: OpenAI;

beforeAll(async () => {
  server = await startDocumentsTestServer();
  clientA = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.a, maxRetries: 0 });
  clientB = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.b, maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

async function pdfOf(pages: string[][]): Promise<Buffer> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = document.addPage([595, 842]);
    lines.forEach((line, at) => {
      page.drawText(line, { x: 50, y: 780 - at * 20, size: 12, font });
    });
  }
  return Buffer.from(await document.save());
}

/** A minimal valid DOCX: the OOXML parts Word needs, written with jszip. */
async function docxOf(paragraphs: Array<{ text: string; heading?: boolean }>): Promise<Buffer> {
  const zip = new JSZip();
  zip.file(
    "[Content_Types].xml",
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
  );
  zip.file(
    "_rels/.rels",
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`,
  );
  const body = paragraphs
    .map(
      (paragraph) =>
        `<w:p>${paragraph.heading ? '<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>' : ""}<w:r><w:t xml:space="preserve">${paragraph.text}</w:t></w:r></w:p>`,
    )
    .join("");
  zip.file(
    "word/document.xml",
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
  );
  return zip.generateAsync({ type: "nodebuffer" });
}

async function upload(client: OpenAI, name: string, content: Buffer | string) {
  return client.files.create({ file: await toFile(Buffer.from(content), name), purpose: "assistants" });
}

async function settled(client: OpenAI, vectorStoreId: string) {
  for (let attempt = 0; attempt < 600; attempt++) {
    const store = await client.vectorStores.retrieve(vectorStoreId);
    if (store.file_counts.in_progress === 0) return store;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("ingestion did not finish");
}

describe("files and vector stores through the official openai client", () => {
  let storeId: string;
  const fileIds: Record<string, string> = {};

  it("ingests every format from files built at test time, keeping PDF pages", async () => {
    const files: Record<string, Buffer | string> = {
      "handbook.pdf": await pdfOf([
        ["Employee handbook", "Working hours start at nine."],
        ["Holidays", "Every employee receives twenty-seven paid vacation days."],
      ]),
      "policy.docx": await docxOf([
        { text: "Expense policy", heading: true },
        { text: "Taxi receipts must be submitted within thirty days." },
      ]),
      "page.html":
        "<html><head><title>Parking</title></head><body><article><h1>Parking rules</h1><p>The underground garage closes at midnight on weekdays, and visitors must register at the reception.</p><p>Bicycles are parked in the courtyard.</p></article></body></html>",
      "notes.md":
        "# Kitchen\n\nThe espresso machine is descaled every Friday.\n\n## Fridge\n\nLabel your lunch.",
      "plain.txt": "The wifi password rotates monthly.\n\nAsk the helpdesk for the current one.",
      "prices.csv": "product,price\nwidget,12 EUR\ngizmo,37 EUR",
    };
    for (const [name, content] of Object.entries(files)) {
      const file = await upload(clientA, name, content);
      expect(file.status, `${name}: ${file.status_details}`).toBe("processed");
      expect(file.filename).toBe(name);
      fileIds[name] = file.id;
    }
    const created = await clientA.vectorStores.create({ name: "company", file_ids: Object.values(fileIds) });
    expect(created.object).toBe("vector_store");
    storeId = created.id;
    const store = await settled(clientA, storeId);
    expect(store.file_counts).toMatchObject({ completed: 6, failed: 0, total: 6 });
    expect(store.usage_bytes).toBeGreaterThan(0);

    // Hybrid search on a synthetic embedding model: the vector list is noise, so the keyword match
    // is asserted among the top three rather than first.
    const top = async (query: string) =>
      (await clientA.vectorStores.search(storeId, { query, max_num_results: 3 })).data;
    const holiday = (await top("paid vacation days")).find((hit) => hit.filename === "handbook.pdf");
    expect(holiday?.content[0]?.text).toContain("twenty-seven paid vacation days");
    expect((holiday as unknown as { page: number }).page).toBe(2);
    expect((await top("taxi receipts")).map((hit) => hit.filename)).toContain("policy.docx");
    expect((await top("underground garage midnight")).map((hit) => hit.filename)).toContain("page.html");
    const csv = (await top("gizmo price")).find((hit) => hit.filename === "prices.csv");
    expect(csv?.content[0]?.text).toContain("gizmo,37 EUR");
  });

  it("filters on file attributes and applies score thresholds", async () => {
    await clientA.vectorStores.files.update(fileIds["notes.md"]!, {
      vector_store_id: storeId,
      attributes: { department: "facilities", year: 2025 },
    });
    await clientA.vectorStores.files.update(fileIds["plain.txt"]!, {
      vector_store_id: storeId,
      attributes: { department: "it", year: 2023 },
    });
    const facilities = await clientA.vectorStores.search(storeId, {
      query: "espresso wifi",
      filters: { type: "eq", key: "department", value: "facilities" },
    });
    expect(facilities.data.map((hit) => hit.filename)).toEqual(["notes.md"]);
    const compound = await clientA.vectorStores.search(storeId, {
      query: "espresso wifi",
      filters: {
        type: "or",
        filters: [
          { type: "lt", key: "year", value: 2024 },
          { type: "in", key: "department", value: ["facilities"] },
        ],
      },
    });
    expect(new Set(compound.data.map((hit) => hit.filename))).toEqual(new Set(["notes.md", "plain.txt"]));
    const none = await clientA.vectorStores.search(storeId, {
      query: "espresso",
      ranking_options: { score_threshold: 1 },
    });
    for (const hit of none.data) expect(hit.score).toBeGreaterThanOrEqual(1);
  });

  it("lists, retrieves and updates stores and store files with OpenAI's shapes", async () => {
    const listed = await clientA.vectorStores.files.list(storeId);
    expect(listed.data.length).toBe(6);
    expect(listed.data[0]).toMatchObject({
      object: "vector_store.file",
      vector_store_id: storeId,
      status: "completed",
    });
    const updated = await clientA.vectorStores.update(storeId, { name: "renamed", metadata: { team: "hr" } });
    expect(updated).toMatchObject({ name: "renamed", metadata: { team: "hr" } });
    const stores = await clientA.vectorStores.list();
    expect(stores.data.some((store) => store.id === storeId)).toBe(true);
    const content = await clientA.files.content(fileIds["plain.txt"]!);
    expect(await content.text()).toContain("wifi password");
    const chunks = await clientA.vectorStores.files.content(fileIds["plain.txt"]!, {
      vector_store_id: storeId,
    });
    expect(chunks.data.map((part) => part.text).join(" ")).toContain("wifi password rotates monthly");
    const scratch = await clientA.vectorStores.create({ name: "scratch" });
    expect(await clientA.vectorStores.delete(scratch.id)).toMatchObject({ id: scratch.id, deleted: true });
    await expect(clientA.vectorStores.retrieve(scratch.id)).rejects.toMatchObject({ status: 404 });
  });

  it("records failed ingestions on the file and leaves nothing half-indexed", async () => {
    const corrupt = await upload(clientA, "broken.pdf", Buffer.from("%PDF-1.7\n1 0 obj <<< garbage"));
    expect(corrupt.status).toBe("error");
    expect(corrupt.status_details).toMatch(/cannot be read/);
    const scanned = await upload(clientA, "scan.pdf", await pdfOf([[], []]));
    expect(scanned.status).toBe("error");
    expect(scanned.status_details).toMatch(/no text layer/);
    // An encrypted DOCX is an OLE container, not a ZIP.
    const ole = Buffer.concat([
      Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]),
      Buffer.alloc(512),
    ]);
    const encrypted = await upload(clientA, "locked.docx", ole);
    expect(encrypted.status).toBe("error");
    expect(encrypted.status_details).toMatch(/encrypted/);
    const batch = await clientA.vectorStores.fileBatches.create(storeId, {
      file_ids: [corrupt.id, scanned.id],
    });
    expect(batch.object).toBe("vector_store.files_batch");
    const failed = await clientA.vectorStores.files.retrieve(corrupt.id, { vector_store_id: storeId });
    expect(failed.status).toBe("failed");
    expect(failed.last_error).toMatchObject({ code: "invalid_file" });
    const rows = await server.store.db
      .selectFrom("document_chunks")
      .select("id")
      .where("file_id", "in", [corrupt.id, scanned.id])
      .execute();
    expect(rows).toEqual([]);
    const retrieved = await clientA.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: storeId });
    expect(retrieved.file_counts).toMatchObject({ failed: 2, completed: 0 });
    const batchFiles = await clientA.vectorStores.fileBatches.listFiles(batch.id, {
      vector_store_id: storeId,
    });
    expect(batchFiles.data.map((file) => file.status)).toEqual(["failed", "failed"]);
  });

  it("does not re-embed an unchanged file uploaded again", async () => {
    const again = await upload(
      clientA,
      "plain-copy.txt",
      "The wifi password rotates monthly.\n\nAsk the helpdesk for the current one.",
    );
    const file = await clientA.vectorStores.files.create(storeId, { file_id: again.id });
    expect(file.status).toBe("in_progress");
    await settled(clientA, storeId);
    const chunks = await server.store.db
      .selectFrom("document_chunks")
      .select(["text"])
      .where("file_id", "=", again.id)
      .execute();
    expect(chunks.length).toBeGreaterThan(0);
    const mine = server.events.filter((event) => event.fileId === again.id);
    expect(mine).toEqual([{ type: "completed", vectorStoreId: storeId, fileId: again.id, reused: true }]);
    const copied = await clientA.vectorStores.files.retrieve(again.id, { vector_store_id: storeId });
    expect(copied.status).toBe("completed");
  });

  it("keeps tenant B out of tenant A's files and stores", async () => {
    const bFiles = await clientB.files.list();
    expect(bFiles.data.map((file) => file.id)).not.toContain(fileIds["plain.txt"]);
    await expect(clientB.files.retrieve(fileIds["plain.txt"]!)).rejects.toMatchObject({ status: 404 });
    await expect(clientB.files.content(fileIds["plain.txt"]!)).rejects.toMatchObject({ status: 404 });
    await expect(clientB.files.delete(fileIds["plain.txt"]!)).rejects.toMatchObject({ status: 404 });
    await expect(clientB.vectorStores.retrieve(storeId)).rejects.toMatchObject({ status: 404 });
    await expect(clientB.vectorStores.search(storeId, { query: "wifi" })).rejects.toMatchObject({
      status: 404,
    });
    await expect(clientB.vectorStores.files.list(storeId)).rejects.toMatchObject({ status: 404 });
    expect((await clientB.vectorStores.list()).data).toEqual([]);
    // B cannot attach A's file to its own store either.
    const own = await clientB.vectorStores.create({ name: "b" });
    await expect(
      clientB.vectorStores.files.create(own.id, { file_id: fileIds["plain.txt"]! }),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      clientB.responses.create({
        model: "tiny",
        input: "wifi?",
        max_output_tokens: 4,
        tools: [{ type: "file_search", vector_store_ids: [storeId] }],
      }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it("erases a deleted file from the keyword and vector indexes", async () => {
    const secret = "Zanzibarquartz codeword unlocks the archive vault.";
    const file = await upload(clientA, "secret.txt", secret);
    await clientA.vectorStores.files.create(storeId, { file_id: file.id });
    await settled(clientA, storeId);
    const before = await clientA.vectorStores.search(storeId, { query: "Zanzibarquartz" });
    expect(before.data[0]?.file_id).toBe(file.id);
    const chunkIds = (
      await server.store.db
        .selectFrom("document_chunks")
        .select("id")
        .where("file_id", "=", file.id)
        .execute()
    ).map((row) => Number(row.id));
    expect(chunkIds.length).toBeGreaterThan(0);

    await clientA.files.delete(file.id);

    const after = await clientA.vectorStores.search(storeId, {
      query: "Zanzibarquartz codeword archive vault",
    });
    expect(after.data.every((hit) => !hit.content[0]!.text.includes("Zanzibarquartz"))).toBe(true);
    const sqlite = server.store.sqlite!;
    expect(
      sqlite
        .prepare(
          "select count(*) as n from document_chunks_fts where document_chunks_fts match 'zanzibarquartz'",
        )
        .get(),
    ).toEqual({ n: 0 });
    expect(
      sqlite.prepare("select count(*) as n from document_chunks where text like '%Zanzibarquartz%'").get(),
    ).toEqual({ n: 0 });
    const vectorTables = sqlite
      .prepare(
        "select name from sqlite_master where name like 'document_vectors_%' and type = 'table' and name not like '%\\_%\\_%\\_%' escape '\\'",
      )
      .all() as Array<{ name: string }>;
    expect(vectorTables.length).toBeGreaterThan(0);
    for (const { name } of vectorTables) {
      const placeholders = chunkIds.map(() => "?").join(",");
      expect(
        sqlite.prepare(`select count(*) as n from ${name} where rowid in (${placeholders})`).get(...chunkIds),
      ).toEqual({ n: 0 });
    }
    expect(
      sqlite
        .prepare(
          "select count(*) as n from document_files where content like '%Zanzibarquartz%' or parsed like '%Zanzibarquartz%'",
        )
        .get(),
    ).toEqual({ n: 0 });
    await expect(clientA.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it("answers with the OpenAI error shape on bad input", async () => {
    await expect(
      clientA.vectorStores.search(storeId, { query: "x", max_num_results: 500 }),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      clientA.vectorStores.search(storeId, {
        query: "x",
        filters: { type: "eq", key: "year" } as never,
      }),
    ).rejects.toMatchObject({ status: 400 });
    const response = await fetch(`${server.baseUrl}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.a}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/multipart/);
  });
});
