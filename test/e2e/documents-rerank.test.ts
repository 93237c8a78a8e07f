import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocumentsTestServer, startDocumentsTestServer } from "../../src/documents/testing.ts";
import { loadRanker, type Ranker } from "../../src/engine/ranker.ts";
import { syntheticTestModel } from "../../src/models/testing.ts";
import { freePort } from "../support/free-port.ts";

// documents.rerankerModel pointing at the synthetic BERT cross-encoder: searches go through
// node-llama-cpp's createRankingContext, in process and in `bastion serve`.

const passages = [
  "Le chat dort sur le canapé du salon après le déjeuner.",
  "Le chien du voisin aboie quand le chat traverse le jardin.",
  "Die Katze schläft auf dem Sofa, der Hund im Garten.",
  "Il gatto dorme sul divano del soggiorno.",
  "El gato duerme en el sofá del salón.",
  "Le salon de l'automobile ouvre ses portes en octobre.",
];
const query = "chat salon canapé déjeuner";

let rerankerPath: string;
let crossEncoder: Ranker;

beforeAll(async () => {
  rerankerPath = await syntheticTestModel("tiny-reranker");
  crossEncoder = await loadRanker({ path: rerankerPath, threads: 1 });
}, 120_000);

afterAll(async () => {
  await crossEncoder?.dispose();
});

async function storeOfPassages(client: OpenAI): Promise<string> {
  const files = [];
  for (const [at, text] of passages.entries())
    files.push(
      await client.files.create({
        file: await toFile(Buffer.from(text), `p${at}.txt`),
        purpose: "assistants",
      }),
    );
  const store = await client.vectorStores.create({ name: "pets", file_ids: files.map((file) => file.id) });
  for (let attempt = 0; attempt < 600; attempt++) {
    const current = await client.vectorStores.retrieve(store.id);
    if (current.file_counts.in_progress === 0) {
      expect(current.file_counts.completed).toBe(passages.length);
      return store.id;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("ingestion did not finish");
}

/** Searches with and without the rerank and checks that the reranked hits carry the cross-encoder's scores. */
async function expectReranked(client: OpenAI, storeId: string): Promise<void> {
  const plain = await client.vectorStores.search(storeId, {
    query,
    max_num_results: 3,
    ranking_options: { ranker: "none" },
  });
  const reranked = await client.vectorStores.search(storeId, { query, max_num_results: 3 });
  expect(reranked.data).toHaveLength(3);
  const texts = reranked.data.map((hit) => hit.content[0]?.text ?? "");
  const expected = (await crossEncoder.rank(query, texts)).map((score) => Math.round(score * 1e6) / 1e6);
  expect(reranked.data.map((hit) => hit.score)).toEqual(expected);
  const scores = reranked.data.map((hit) => hit.score);
  expect(scores).toEqual([...scores].sort((a, b) => b - a));
  // Without the rerank the scores are normalised fused ranks: the first is 1 by construction.
  expect(plain.data[0]?.score).toBe(1);
  expect(scores).not.toEqual(plain.data.map((hit) => hit.score));
}

describe("documents.rerankerModel in process, through the official openai client", () => {
  let server: DocumentsTestServer;

  beforeAll(async () => {
    server = await startDocumentsTestServer({ config: { documents: { rerankerModel: rerankerPath } } });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it("reranks vector store searches unless ranking_options.ranker is none", async () => {
    const client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.a, maxRetries: 0 });
    await expectReranked(client, await storeOfPassages(client));
  });
});

describe("documents.rerankerModel in bastion serve's config file", () => {
  let child: ChildProcess | undefined;
  let dataDir: string | undefined;

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it("makes the served vector store search rerank, and says so in the log", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bastion-rerank-"));
    const configPath = join(dataDir, "bastion.json");
    await writeFile(
      configPath,
      JSON.stringify({
        engine: { threads: 1, gpu: false },
        models: { entries: [{ id: "tiny", path: await syntheticTestModel("tiny") }] },
        documents: { rerankerModel: rerankerPath },
      }),
    );
    const port = await freePort();
    const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
    let output = "";
    const process_ = spawn(
      process.execPath,
      [bin, "serve", "--port", String(port), "--config", configPath, "--no-auth", "--offline", "--no-store"],
      {
        env: { ...process.env, BASTION_DATA_DIR: dataDir, BASTION_LOG_LEVEL: "info" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = process_;
    process_.stdout?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    process_.stderr?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    const url = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let attempt = 0; attempt < 1200 && process_.exitCode === null && !ready; attempt++) {
      ready = await fetch(`${url}/ready`).then(
        (response) => response.ok,
        () => false,
      );
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!ready) throw new Error(`serve did not become ready:\n${output}`);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    await expectReranked(client, await storeOfPassages(client));
    expect(output).toMatch(/reranker loaded/);
    expect(output).toContain(rerankerPath);
  }, 180_000);
});
