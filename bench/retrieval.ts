/**
 * Retrieval benchmark: quality (recall@5, MRR) of BM25, vectors, hybrid and hybrid + rerank on a
 * 320-passage corpus in French, German, Italian and Spanish with 100 questions; ingestion
 * throughput (pages/s, parsing and chunking, no embedding); search latency at 100k chunks on SQLite.
 *
 *   npm run bench:retrieval
 *   BENCH_EMBEDDING_MODEL=/path/multilingual-e5-small.gguf BENCH_RERANKER_MODEL=/path/bge-reranker-v2-m3.gguf npm run bench:retrieval
 *
 * Without BENCH_EMBEDDING_MODEL the embedder is the synthetic `tiny` model (random weights): the
 * vector and hybrid rows then measure plumbing, not quality, and are marked so. Without
 * BENCH_RERANKER_MODEL the hybrid+rerank row runs the synthetic `tiny-reranker` (a 2-layer, 64-wide
 * BERT cross-encoder with random weights) through the same createRankingContext path: its latency
 * is real plumbing (a floor: bge-reranker-v2-m3 is 24 layers x 1024), its quality means nothing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { configSchema } from "../src/config/config.ts";
import { type Chunk, chunkDocument } from "../src/documents/chunker.ts";
import { createSqliteChunkIndex } from "../src/documents/index/sqlite-index.ts";
import { createDocuments } from "../src/documents/index.ts";
import { parseDocument } from "../src/documents/parse/parse-document.ts";
import { type RetrievalMode, reciprocalRankFusion } from "../src/documents/retrieval.ts";
import { approximateTokenizer } from "../src/documents/tokenizer.ts";
import { loadRanker } from "../src/engine/ranker.ts";
import { defaultThreadCount, measureBusyCores } from "../src/engine/threads.ts";
import { syntheticTestModel } from "../src/models/testing.ts";
import { createPlatform } from "../src/platform.ts";
import { openStore } from "../src/store/database.ts";

interface Passage {
  id: string;
  lang: string;
  text: string;
}
interface Question {
  id: string;
  lang: string;
  question: string;
  passage: string;
}

const corpusDir = new URL("./corpus/", import.meta.url);
const passages = JSON.parse(readFileSync(new URL("passages.json", corpusDir), "utf8")) as Passage[];
const questions = JSON.parse(readFileSync(new URL("questions.json", corpusDir), "utf8")) as Question[];
const embeddingPath = process.env.BENCH_EMBEDDING_MODEL;
const rerankerPath = process.env.BENCH_RERANKER_MODEL;
const realEmbeddings = embeddingPath !== undefined && embeddingPath !== "";
const realReranker = rerankerPath !== undefined && rerankerPath !== "";
const rerankerModel = realReranker ? rerankerPath : await syntheticTestModel("tiny-reranker");
const rerankerLabel = realReranker
  ? rerankerPath
  : "synthetic tiny-reranker (random weights: rerank QUALITY is NOT meaningful; latency is a floor, 2 layers x 64 vs bge-reranker-v2-m3's 24 x 1024)";
const latencyChunks = Number(process.env.BENCH_CHUNKS ?? 100_000);
const latencyDimensions = Number(process.env.BENCH_DIMENSIONS ?? 384);

// Bastion's "auto": the cores other processes leave free. A fixed 2 on a loaded 2-core box makes
// llama.cpp's threads spin-wait for each other (the reranker measured 700x slower than 1 thread).
const threads = Number(process.env.BENCH_THREADS ?? defaultThreadCount(undefined, await measureBusyCores()));

const work = mkdtempSync(join(tmpdir(), "bastion-bench-retrieval-"));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function quality() {
  const config = configSchema.parse({
    engine: { threads, gpu: false },
    models: {
      entries: [
        { id: "embed", path: realEmbeddings ? embeddingPath : await syntheticTestModel("tiny"), aliases: [] },
      ],
      contextSize: 2048,
      idleUnloadSeconds: 0,
    },
    documents: { rerankerModel },
  });
  const store = await openStore({ sqlitePath: join(work, "quality.db") });
  // A platform given our store does not open the configured one.
  const platformOptions = { store };
  const platform = await createPlatform(config, platformOptions);
  const documents = await createDocuments({ store, registry: platform.registry, config, resume: false });
  const service = documents.service;
  const vs = await service.createVectorStore("default", { name: "bench" });
  const started = performance.now();
  const byFile = new Map<string, string>();
  for (const passage of passages) {
    const file = await service.createFile("default", {
      filename: `${passage.id}.txt`,
      purpose: "assistants",
      content: Buffer.from(passage.text),
    });
    byFile.set(file.filename, passage.id);
    await service.addFile("default", vs.id, { fileId: file.id });
  }
  await service.idle();
  const ingestSeconds = (performance.now() - started) / 1000;

  const modes: Array<{ name: string; mode: RetrievalMode; rerank: boolean; meaningful: boolean }> = [
    { name: "bm25", mode: "keyword", rerank: false, meaningful: true },
    { name: "vector", mode: "vector", rerank: false, meaningful: realEmbeddings },
    { name: "hybrid", mode: "hybrid", rerank: false, meaningful: realEmbeddings },
    { name: "hybrid+rerank", mode: "hybrid", rerank: true, meaningful: realEmbeddings && realReranker },
  ];
  const stats = modes.map(() => ({ found5: 0, reciprocal: 0, times: [] as number[] }));
  // Side by side: every question runs every retriever, in an order that rotates per question, so
  // that load drifting over the run falls on all rows alike. The first rerank loads the model.
  await service.search("default", [vs.id], { query: "warm-up", rerank: true });
  for (const [round, question] of questions.entries()) {
    for (let step = 0; step < modes.length; step++) {
      const at = (round + step) % modes.length;
      const mode = modes[at]!;
      const t0 = performance.now();
      const hits = await service.search("default", [vs.id], {
        query: question.question,
        maxNumResults: 10,
        mode: mode.mode,
        rerank: mode.rerank,
      });
      stats[at]!.times.push(performance.now() - t0);
      if (step === 0 && round % 20 === 0)
        process.stderr.write(`quality: question ${round}/${questions.length}\n`);
      const rank = hits.findIndex((hit) => byFile.get(hit.filename) === question.passage);
      if (rank >= 0 && rank < 5) stats[at]!.found5++;
      if (rank >= 0) stats[at]!.reciprocal += 1 / (rank + 1);
    }
  }
  const rows = modes.map((mode, at) => ({
    retriever: mode.name,
    recall_at_5: stats[at]!.found5 / questions.length,
    mrr: stats[at]!.reciprocal / questions.length,
    p50_ms: percentile(stats[at]!.times, 50),
    p95_ms: percentile(stats[at]!.times, 95),
    meaningful: mode.meaningful,
  }));
  // What the rerank adds to a search, question by question (the same question's hybrid search without it).
  const hybrid = stats[modes.findIndex((mode) => mode.name === "hybrid")]!.times;
  const reranked = stats[modes.findIndex((mode) => mode.name === "hybrid+rerank")]!.times;
  const added = reranked.map((time, at) => time - hybrid[at]!);
  const rerankInSearch = {
    candidates: config.documents.candidates,
    added_p50_ms: percentile(added, 50),
    added_p95_ms: percentile(added, 95),
    ratio_p50: percentile(reranked, 50) / percentile(hybrid, 50),
  };
  await documents.dispose();
  await platform.dispose();
  await store.destroy();
  return { ingestSeconds, rows, rerankInSearch };
}

/**
 * The cross-encoder alone at top-k: one `rank(question, k passages)` call, as a search makes it,
 * for k = 10, 20, 50, on corpus passages (~40 tokens) and on 800-token chunks (the default chunk
 * size). The k values and shapes alternate within each question.
 */
async function rerankCost() {
  const ranker = await loadRanker({ path: rerankerModel, threads });
  const long: string[] = [];
  let current = "";
  for (const passage of [...passages, ...passages]) {
    current = current === "" ? passage.text : `${current} ${passage.text}`;
    if (approximateTokenizer.count(current) >= 800) {
      long.push(current);
      current = "";
    }
  }
  const settings = [10, 20, 50].flatMap((k) => [
    { shape: "passage", k, texts: passages.map((passage) => passage.text) },
    { shape: "800-token chunk", k, texts: long },
  ]);
  const times = settings.map(() => [] as number[]);
  const rounds = Number(process.env.BENCH_RERANK_ROUNDS ?? 30);
  process.stderr.write(`rerank cost: ${rounds} rounds of ${settings.length} settings\n`);
  await ranker.rank("warm-up", [passages[0]!.text]);
  for (let round = 0; round < rounds; round++) {
    const question = questions[round % questions.length]!.question;
    for (let step = 0; step < settings.length; step++) {
      const at = (round + step) % settings.length;
      const { k, texts } = settings[at]!;
      const candidates = Array.from({ length: k }, (_, i) => texts[(round * 7 + i) % texts.length]!);
      const t0 = performance.now();
      await ranker.rank(question, candidates);
      times[at]!.push(performance.now() - t0);
    }
  }
  await ranker.dispose();
  return settings.map((setting, at) => ({
    shape: setting.shape,
    approximate_tokens: Math.round(
      setting.texts.reduce((sum, text) => sum + approximateTokenizer.count(text), 0) / setting.texts.length,
    ),
    k: setting.k,
    rounds,
    p50_ms: percentile(times[at]!, 50),
    p95_ms: percentile(times[at]!, 95),
    per_passage_p50_ms: percentile(times[at]!, 50) / setting.k,
  }));
}

async function throughput() {
  // A 50-page PDF of corpus text, and every passage as a text file: parse + chunk, no embedding.
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const ascii = passages.map((passage) => passage.text.normalize("NFD").replace(/[^\x20-\x7e]/g, ""));
  for (let page = 0; page < 50; page++) {
    const sheet = pdf.addPage([595, 842]);
    for (let line = 0; line < 40; line++) {
      sheet.drawText(ascii[(page * 40 + line) % ascii.length]!.slice(0, 95), {
        x: 30,
        y: 800 - line * 19,
        size: 9,
        font,
      });
    }
  }
  const bytes = await pdf.save();
  const rounds = 3;
  const t0 = performance.now();
  let pages = 0;
  let chunks = 0;
  for (let round = 0; round < rounds; round++) {
    const document = await parseDocument("bench.pdf", bytes);
    pages += document.pages ?? 0;
    chunks += chunkDocument(document, { maxTokens: 800, overlapTokens: 400 }, approximateTokenizer).length;
  }
  const pdfSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (const passage of passages) {
    const document = await parseDocument(`${passage.id}.txt`, Buffer.from(passage.text));
    chunkDocument(document, { maxTokens: 800, overlapTokens: 400 }, approximateTokenizer);
  }
  const textSeconds = (performance.now() - t1) / 1000;
  return {
    pdf_pages_per_second: pages / pdfSeconds,
    pdf_chunks: chunks / rounds,
    text_files_per_second: passages.length / textSeconds,
  };
}

const firmPattern =
  /Arvalis|Borelli|Castelnau|Durand & Fils|Eskerra|Falkenrath|Giordani|Hautmont|Isarwerk|Jovellanos|Kerlann|Lombardi|Montferrand|Nordhafen|Olivares|Pontremoli|Quercy|Rheinfeld|Salamanca Tec|Trevisani/g;

/**
 * 100k chunks like a real company corpus: each is three corpus passages with the firm names and
 * numbers replaced by new ones (so boilerplate words are common and names rare, as in real
 * documents); vectors are clustered (200 centres plus noise) like embeddings, not uniform noise.
 */
async function latency() {
  const store = await openStore({ sqlitePath: join(work, "latency.db") });
  const index = createSqliteChunkIndex(store.sqlite!);
  const exact = createSqliteChunkIndex(store.sqlite!, { quantizeAbove: Number.POSITIVE_INFINITY });
  // mulberry32: 32-bit integer arithmetic (Math.imul), so the sequence does not cycle early as a
  // float-multiplied LCG does.
  let seed = 42;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const syllables = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "tor",
    "sel",
    "bru",
    "dan",
    "fi",
    "gor",
    "hel",
    "zu",
    "pa",
    "qui",
    "ner",
  ];
  const firmName = () =>
    Array.from({ length: 3 }, () => syllables[Math.floor(random() * syllables.length)]!).join("") +
    String(Math.floor(random() * 1000));
  const centres = Array.from({ length: 200 }, () => {
    const values = new Float32Array(latencyDimensions);
    for (let at = 0; at < values.length; at++) values[at] = random() - 0.5;
    return values;
  });
  const vectorNear = (base: Float32Array, noise: number) => {
    const values = new Float32Array(latencyDimensions);
    for (let at = 0; at < values.length; at++) values[at] = base[at]! + (random() - 0.5) * noise;
    return values;
  };
  const samples: Array<{ firm: string; vector: Float32Array; id: number }> = [];
  const t0 = performance.now();
  const batch = 2000;
  for (let begin = 0; begin < latencyChunks; begin += batch) {
    const chunks: Chunk[] = [];
    const vectors: Float32Array[] = [];
    for (let at = begin; at < Math.min(latencyChunks, begin + batch); at++) {
      const firm = firmName();
      const text = Array.from({ length: 3 }, () => passages[Math.floor(random() * passages.length)]!.text)
        .join(" ")
        // Numbers first: the new firm name ends in digits of its own.
        .replace(/\d+/g, () => String(Math.floor(random() * 100)))
        .replace(firmPattern, firm);
      const vector = vectorNear(centres[Math.floor(random() * centres.length)]!, 0.8);
      chunks.push({ seq: at, text, start: 0, end: text.length, page: null, tokens: 150 });
      vectors.push(vector);
      // Chunk ids start at 1 in this fresh database, in insertion order.
      if (at % 500 === 0) samples.push({ firm, vector, id: at + 1 });
    }
    await store.db.transaction().execute(async (trx) => {
      await index.insert(
        trx,
        { tenantId: "default", vectorStoreId: "vs_bench", fileId: `file-${begin}` },
        chunks,
        vectors,
      );
    });
  }
  const insertSeconds = (performance.now() - t0) / 1000;
  const scope = { vectorStoreIds: ["vs_bench"] };
  // The first vector query builds the in-memory quantized copy: timed apart.
  const tBuild = performance.now();
  await index.vector(scope, samples[0]!.vector, 10);
  const cacheBuildMs = performance.now() - tBuild;
  const timings = { keyword: [] as number[], vector: [] as number[], hybrid: [] as number[] };
  let overlap = 0;
  let compared = 0;
  const queries = Array.from({ length: 200 }, (_, round) => {
    const sample = samples[round % samples.length]!;
    return {
      question: questions[round % questions.length]!.question.replace(firmPattern, sample.firm),
      vector: vectorNear(sample.vector, 0.3),
      answer: sample.id,
    };
  });
  // Each retriever alone over all queries, then both fused.
  // Whether the chunk that names the firm asked about comes back in the top 5: pruning common
  // terms must not cost recall.
  let keywordFound = 0;
  for (const query of queries) {
    const t = performance.now();
    const hits = await index.keyword(scope, query.question, 50);
    timings.keyword.push(performance.now() - t);
    if (hits.slice(0, 5).some((hit) => hit.id === query.answer)) keywordFound++;
  }
  for (const query of queries) {
    const t = performance.now();
    await index.vector(scope, query.vector, 50);
    timings.vector.push(performance.now() - t);
  }
  for (const [round, { question, vector: queryVector }] of queries.entries()) {
    const t = performance.now();
    const keyword = await index.keyword(scope, question, 50);
    const vectorHits = await index.vector(scope, queryVector, 50);
    const fused = reciprocalRankFusion(
      [
        { hits: keyword, weight: 1 },
        { hits: vectorHits, weight: 1 },
      ],
      60,
    ).slice(0, 10);
    if (fused.length > 0)
      await sql`select id, text from document_chunks where id in (${sql.join(fused.map((hit) => hit.id))})`.execute(
        store.db,
      );
    timings.hybrid.push(performance.now() - t);
    if (round < 20) {
      // How much of sqlite-vec's exact top 10 the quantized search returns.
      const truth = new Set((await exact.vector(scope, queryVector, 10)).map((hit) => hit.id));
      const mine = (await index.vector(scope, queryVector, 10)).map((hit) => hit.id);
      overlap += mine.filter((id) => truth.has(id)).length;
      compared += truth.size;
    }
  }
  await store.destroy();
  return {
    chunks: latencyChunks,
    dimensions: latencyDimensions,
    insert_chunks_per_second: latencyChunks / insertSeconds,
    vector_cache_build_ms: cacheBuildMs,
    quantized_recall_at_10_vs_exact: overlap / compared,
    keyword_recall_at_5: keywordFound / queries.length,
    load_average: loadavg()[0] ?? 0,
    ...Object.fromEntries(
      Object.entries(timings).map(([name, values]) => [
        name,
        { p50_ms: percentile(values, 50), p95_ms: percentile(values, 95) },
      ]),
    ),
  };
}

// BENCH_SKIP_QUALITY=1 skips the ingestion and quality part (the slowest on a busy machine).
const skipQuality = process.env.BENCH_SKIP_QUALITY === "1";
const results = {
  quality: skipQuality ? { ingestSeconds: Number.NaN, rows: [], rerankInSearch: undefined } : await quality(),
  rerank: { model: rerankerLabel, synthetic: !realReranker, at_top_k: await rerankCost() },
  throughput: await throughput(),
  latency: await latency(),
};
rmSync(work, { recursive: true, force: true });

const fmt = (value: number, digits = 3) => value.toFixed(digits);
console.log(
  `\nRetrieval quality: ${passages.length} passages (fr, de, it, es), ${questions.length} questions`,
);
console.log(
  `embedding model: ${realEmbeddings ? embeddingPath : "synthetic tiny (random weights: vector rows are NOT meaningful)"}`,
);
console.log(`reranker: ${rerankerLabel}`);
console.log(`llama.cpp threads (embedder and reranker): ${threads}`);
console.log("retriever        recall@5  MRR    p50 ms  p95 ms  quality meaningful");
for (const row of results.quality.rows) {
  const needs = [
    ...(row.retriever !== "bm25" && !realEmbeddings ? ["BENCH_EMBEDDING_MODEL"] : []),
    ...(row.retriever === "hybrid+rerank" && !realReranker ? ["BENCH_RERANKER_MODEL"] : []),
  ];
  console.log(
    `${row.retriever.padEnd(16)} ${fmt(row.recall_at_5).padStart(8)}  ${fmt(row.mrr).padEnd(6)} ${fmt(row.p50_ms, 1).padStart(6)}  ${fmt(row.p95_ms, 1).padStart(6)}  ${row.meaningful ? "yes" : `no: needs ${needs.join(" and ")}`}`,
  );
}
const inSearch = results.quality.rerankInSearch;
if (inSearch !== undefined)
  console.log(
    `rerank inside a search (top ${inSearch.candidates} candidates): adds p50 ${fmt(inSearch.added_p50_ms, 1)} ms, p95 ${fmt(inSearch.added_p95_ms, 1)} ms; hybrid+rerank / hybrid p50 = ${fmt(inSearch.ratio_p50, 2)}x`,
  );
console.log(
  `\nrerank cost at top-k (${results.rerank.synthetic ? "SYNTHETIC reranker: a floor, not bge-reranker-v2-m3's cost" : rerankerPath}), one rank() call:`,
);
console.log("passages          ~tokens   k   p50 ms   p95 ms  ms/passage");
for (const row of results.rerank.at_top_k) {
  console.log(
    `${row.shape.padEnd(17)} ${String(row.approximate_tokens).padStart(7)} ${String(row.k).padStart(3)} ${fmt(row.p50_ms, 1).padStart(8)} ${fmt(row.p95_ms, 1).padStart(8)} ${fmt(row.per_passage_p50_ms, 2).padStart(10)}`,
  );
}
console.log(
  `\ningestion incl. embedding: ${fmt(passages.length / results.quality.ingestSeconds, 1)} files/s`,
);
console.log(
  `parse + chunk (no embedding): PDF ${fmt(results.throughput.pdf_pages_per_second, 1)} pages/s, text ${fmt(results.throughput.text_files_per_second, 0)} files/s`,
);
const l = results.latency as unknown as Record<string, { p50_ms: number; p95_ms: number }> & {
  insert_chunks_per_second: number;
};
console.log(
  `\nsearch latency at ${latencyChunks} chunks (${latencyDimensions} dims, SQLite, query embedding excluded; load average ${fmt(results.latency.load_average, 1)} on ${cpus().length} cores)`,
);
console.log(
  `keyword recall@5 at this size (question names one chunk's firm): ${fmt(results.latency.keyword_recall_at_5)}`,
);
console.log(
  `quantized vector search keeps ${fmt(results.latency.quantized_recall_at_10_vs_exact * 100, 1)}% of sqlite-vec's exact top 10; building it took ${fmt(results.latency.vector_cache_build_ms, 0)} ms`,
);
for (const name of ["keyword", "vector", "hybrid"]) {
  console.log(`${name.padEnd(8)} p50 ${fmt(l[name]!.p50_ms, 1)} ms  p95 ${fmt(l[name]!.p95_ms, 1)} ms`);
}
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
const out = new URL(
  `./results/retrieval-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
  import.meta.url,
);
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), embeddingModel: embeddingPath ?? "synthetic-tiny", rerankerModel: realReranker ? rerankerPath : "synthetic-tiny-reranker", threads, loadAverageAtEnd: loadavg(), ...results }, null, 2)}\n`,
);
console.log(`\nwrote ${out.pathname}`);
