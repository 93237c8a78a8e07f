/**
 * `node bench/dialects.ts`: the same greedy chat through the three dialects of one real server
 * (OpenAI `/v1/chat/completions`, Ollama `/api/chat`, Anthropic `/v1/messages`), side by side in
 * one run, streamed and not, on a synthetic model. Rounds alternate between dialects so that
 * machine drift hits all three alike; the medians and their ratio to OpenAI are printed as a table
 * and written as JSON to bench/results/. Options: --preset (default `tiny`), --rounds (default 30),
 * --tokens (default 32).
 *
 * What it shows: the cost of each translation layer (parsing, framing, NDJSON or SSE events) on top
 * of the shared chat path. Output is identical across dialects (thinking off, temperature 0), which
 * the run checks through the completion token counts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startTestServer } from "../test/support/test-server.ts";

const { values: flags } = parseArgs({
  options: {
    preset: { type: "string", default: "tiny" },
    rounds: { type: "string", default: "30" },
    tokens: { type: "string", default: "32" },
  },
});
const rounds = Number(flags.rounds);
const tokens = Number(flags.tokens);
const prompt = "Write a short note about rivers in France.";

type Dialect = "openai" | "ollama" | "anthropic";
const dialects: Dialect[] = ["openai", "ollama", "anthropic"];

function requestFor(dialect: Dialect, stream: boolean): { path: string; body: unknown } {
  const messages = [{ role: "user", content: prompt }];
  switch (dialect) {
    case "openai":
      return {
        path: "/v1/chat/completions",
        body: {
          model: "m",
          messages,
          max_tokens: tokens,
          temperature: 0,
          max_reasoning_tokens: 0,
          stream,
          ...(stream ? { stream_options: { include_usage: true } } : {}),
        },
      };
    case "ollama":
      return {
        path: "/api/chat",
        body: {
          model: "m",
          messages,
          think: false,
          stream,
          options: { num_predict: tokens, temperature: 0 },
        },
      };
    case "anthropic":
      return {
        path: "/v1/messages",
        body: { model: "m", messages, max_tokens: tokens, temperature: 0, stream },
      };
  }
}

/** Completion tokens as each dialect reports them (in the body, or in the stream's last usage). */
function completionTokens(dialect: Dialect, text: string): number {
  const numbers = (pattern: RegExp) => [...text.matchAll(pattern)].map((match) => Number(match[1]));
  const patterns: Record<Dialect, RegExp> = {
    openai: /"completion_tokens":(\d+)/g,
    ollama: /"eval_count":(\d+)/g,
    anthropic: /"output_tokens":(\d+)/g,
  };
  return numbers(patterns[dialect]).at(-1) ?? -1;
}

interface Sample {
  firstByteMs: number;
  totalMs: number;
  tokens: number;
}

async function run(baseUrl: string, dialect: Dialect, stream: boolean): Promise<Sample> {
  const { path, body } = requestFor(dialect, stream);
  const started = performance.now();
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${dialect} answered ${response.status}: ${await response.text()}`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let firstByteMs = -1;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (firstByteMs < 0) firstByteMs = performance.now() - started;
    text += decoder.decode(value, { stream: true });
  }
  return { firstByteMs, totalMs: performance.now() - started, tokens: completionTokens(dialect, text) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const server = await startTestServer({ models: [{ id: "m", preset: flags.preset, parallel: 1 }] });
try {
  const samples = new Map<string, Sample[]>();
  // One warm-up of each: the model loads on first use.
  for (const dialect of dialects) await run(server.baseUrl, dialect, false);
  for (let round = 0; round < rounds; round++) {
    for (const stream of [false, true]) {
      for (const dialect of dialects) {
        const key = `${dialect}/${stream ? "stream" : "json"}`;
        const list = samples.get(key) ?? [];
        list.push(await run(server.baseUrl, dialect, stream));
        samples.set(key, list);
      }
    }
  }
  const rows = [...samples.entries()].map(([key, list]) => {
    const [dialect, mode] = key.split("/") as [Dialect, string];
    const reference = samples.get(`openai/${mode}`)!;
    const totalMs = median(list.map((sample) => sample.totalMs));
    const firstByteMs = median(list.map((sample) => sample.firstByteMs));
    return {
      dialect,
      mode,
      tokens: median(list.map((sample) => sample.tokens)),
      firstByteMs: Number(firstByteMs.toFixed(2)),
      totalMs: Number(totalMs.toFixed(2)),
      totalVsOpenAI: Number((totalMs / median(reference.map((sample) => sample.totalMs))).toFixed(3)),
      firstByteVsOpenAI: Number(
        (firstByteMs / median(reference.map((sample) => sample.firstByteMs))).toFixed(3),
      ),
    };
  });
  console.table(rows);
  const tokenCounts = new Set(rows.map((row) => row.tokens));
  if (tokenCounts.size !== 1)
    console.warn(`Dialects generated different token counts: ${[...tokenCounts].join(", ")}`);
  const resultsDir = join(import.meta.dirname, "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(
    resultsDir,
    `dialects-${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}.json`,
  );
  writeFileSync(file, `${JSON.stringify({ preset: flags.preset, rounds, tokens, rows }, null, 2)}\n`);
  console.log(`wrote ${file}`);
} finally {
  await server.close();
}
