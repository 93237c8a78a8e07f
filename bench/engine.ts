/**
 * `npm run bench:engine`: Bastion's HTTP API against node-llama-cpp called directly, side by side in
 * one run, on a shape-true synthetic DeepSeek-R1-Distill-Qwen-1.5B (Q8_0). Prints a table and
 * writes JSON to bench/results/. Options: --threads N (default: Bastion's measured default),
 * --threads-sweep (also compare 1 and 2 threads), --quick (fewer tokens, for a smoke run).
 * --speculative: prompt lookup on against off, on the scripted 1.5B that writes a known passage
 * (a request that copies it from the prompt, one with half of it, one with nothing to copy).
 * --vs-llama-server: Bastion against llama.cpp's own llama-server (built once from the llama.cpp source
 * node-llama-cpp ships, see bench/llama-server.ts), same model file, threads and parallel sequences,
 * batch sizes and sampling, alternating rounds of fresh prompts, after a raw-kernel check (llama-bench
 * against node-llama-cpp); default model Q4_K_M (llama.cpp's quantiser, from our Q8_0).
 *
 * This program imports node-llama-cpp itself on purpose: it is the reference Bastion is measured against.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  getLlama,
  LlamaChat,
  type LlamaChatResponseChunk,
  type LlamaContext,
  LlamaLogLevel,
} from "node-llama-cpp";
import { formatTable } from "../src/cli/table.ts";
import type { ChatMessage, Usage } from "../src/core/chat.ts";
import { getLlamaRuntime } from "../src/engine/llama.ts";
import { loadModelRunner, type ModelRunner } from "../src/engine/model-runner.ts";
import { defaultThreadCount } from "../src/engine/threads.ts";
import { scriptedPassageText } from "../src/models/scripted-passage.ts";
import { ensureSyntheticModel } from "../src/models/synth.ts";
import {
  ensureLlamaCppBuild,
  ensureQuantized,
  type LlamaBenchResult,
  type LlamaCppBuild,
  runLlamaBench,
  startLlamaServer,
} from "./llama-server.ts";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string" },
    "threads-sweep": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    preset: { type: "string", default: "deepseek-r1-distill-qwen-1.5b" },
    type: { type: "string" },
    speculative: { type: "boolean", default: false },
    "vs-llama-server": { type: "boolean", default: false },
    rounds: { type: "string" },
  },
});

const root = join(import.meta.dirname, "..");
/**
 * Q4_K_M against llama-server, as the issue measured: our writer cannot produce it, so llama.cpp's
 * own quantiser makes it from the synthetic Q8_0 (see ensureQuantized). `--type q4_0` uses ours.
 */
const weightType = flags.type ?? (flags["vs-llama-server"] ? "q4_k_m" : "q8_0");
const decodeTokens = flags.quick ? 16 : 48;
/** Alternating direct/HTTP rounds of single-stream decode; the median of each side is reported. */
const decodeRounds = flags.quick ? 2 : 5;
const concurrencies = [1, 2, 4, 8];
const contextSize = 2048;
const systemPrompt1k = `You are Bastion's assistant for a European company. ${"Answer precisely, cite the internal policy, keep personal data inside the EU, and say when you are unsure. ".repeat(45)}`;

interface Side {
  /** Mean wall time to the first generated token, ms. */
  ttftMs: number;
  /** Prompt tokens per second on a ~540-token prompt. */
  prefillTokensPerSecond: number;
  /** Single-stream decode tokens per second (after the first token). */
  decodeTokensPerSecond: number;
  /** Aggregate decode tokens per second at each concurrency. */
  aggregate: Record<number, number>;
  /** TTFT with a 1k-token system prompt: first request, then a second one sharing it. */
  prefixFirstTtftMs: number;
  prefixSecondTtftMs: number;
}

interface Generation {
  promptTokens: number;
  ttftMs: number;
  totalMs: number;
  tokens: number;
}

type Generate = (messages: { system?: string; user: string }, maxTokens: number) => Promise<Generation>;

const longUser = `Summarise this: ${"The quick brown fox jumps over the lazy dog near the river bank. ".repeat(36)}`;

async function measure(generate: Generate, label: string): Promise<Side> {
  // Warm-up: first evaluation allocates buffers.
  await generate({ user: "Warm up." }, 4);
  const ttfts: number[] = [];
  for (let index = 0; index < 3; index++)
    ttfts.push((await generate({ user: `Hello number ${index}` }, 1)).ttftMs);
  const prefill = await generate({ user: `${longUser} ${Math.random()}` }, 1);
  const prefillTokens = prefill.promptTokens;
  const single = await generate({ user: "Tell me a long story about Europe." }, decodeTokens);
  const aggregate: Record<number, number> = {};
  for (const concurrency of concurrencies) {
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: concurrency }, (_, index) =>
        generate({ user: `Story ${index} for concurrency ${concurrency}.` }, decodeTokens),
      ),
    );
    const wall = (performance.now() - started) / 1000;
    aggregate[concurrency] = runs.reduce((sum, run) => sum + run.tokens, 0) / wall;
    process.stderr.write(
      `  ${label}: concurrency ${concurrency}: ${aggregate[concurrency]!.toFixed(2)} tok/s\n`,
    );
  }
  const system = `${systemPrompt1k} [${label} ${Math.random()}]`;
  const first = await generate({ system, user: "First question about the policy." }, 1);
  const second = await generate({ system, user: "A different second question." }, 1);
  return {
    ttftMs: median(ttfts),
    prefillTokensPerSecond: prefillTokens / (prefill.ttftMs / 1000),
    decodeTokensPerSecond: (single.tokens - 1) / ((single.totalMs - single.ttftMs) / 1000),
    aggregate,
    prefixFirstTtftMs: first.ttftMs,
    prefixSecondTtftMs: second.ttftMs,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** node-llama-cpp directly: one context, N sequences, LlamaChat per request, as an application would. */
async function directSide(modelPath: string, threads: number) {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context: LlamaContext = await model.createContext({ sequences: 8, contextSize, threads });
  const free = Array.from({ length: 8 }, () => new LlamaChat({ contextSequence: context.getSequence() }));
  const generate: Generate = async (messages, maxTokens) => {
    const chat = free.pop()!;
    const history = [
      ...(messages.system === undefined ? [] : [{ type: "system" as const, text: messages.system }]),
      { type: "user" as const, text: messages.user },
      { type: "model" as const, response: [] },
    ];
    const promptTokens = chat.chatWrapper
      .generateContextState({ chatHistory: history })
      .contextText.tokenize(model.tokenizer).length;
    const started = performance.now();
    let first: number | undefined;
    let tokens = 0;
    try {
      await chat.generateResponse(history, {
        maxTokens,
        temperature: 0.7,
        repeatPenalty: false,
        budgets: { thoughtTokens: Number.POSITIVE_INFINITY },
        onResponseChunk: (chunk: LlamaChatResponseChunk) => {
          if (chunk.tokens.length === 0) return;
          first ??= performance.now();
          tokens += chunk.tokens.length;
        },
      });
    } finally {
      free.push(chat);
    }
    const end = performance.now();
    return { promptTokens, ttftMs: (first ?? end) - started, totalMs: end - started, tokens };
  };
  return {
    generate,
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

async function startBastion(
  modelPath: string,
  threads: number,
  parallel = 8,
  contextPerSequence = contextSize,
): Promise<{ url: string; process: ChildProcess; args: string[] }> {
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const args = [
    join(root, "bin", "bastion.js"),
    "serve",
    "--model",
    `bench=${modelPath}`,
    "--port",
    String(port),
    "--parallel",
    String(parallel),
    "--ctx-size",
    String(contextPerSequence),
    "--threads",
    String(threads),
    // The engine is what is measured: keys, limits and metering stay off (loopback only).
    "--no-auth",
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, BASTION_LOG_LEVEL: "warn" },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      const ready = await fetch(`${url}/ready`);
      if (ready.ok) {
        // /ready answers before the first load finishes; a tiny request waits for it.
        await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "bench",
            messages: [{ role: "user", content: "hi" }],
            max_tokens: 1,
          }),
        });
        return { url, process: child, args };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error("Bastion did not start within 60 s");
}

/**
 * An OpenAI-compatible server over HTTP with streaming, as an OpenAI client sees it: Bastion, or
 * llama-server (`extra` adds its own request fields). Tokens are the usage's completion tokens, or
 * the streamed content chunks when a server sends no usage.
 */
function httpGenerate(url: string, extra: Record<string, unknown> = {}): Generate {
  return async (messages, maxTokens) => {
    const started = performance.now();
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "bench",
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: maxTokens,
        temperature: 0.7,
        messages: [
          ...(messages.system === undefined ? [] : [{ role: "system", content: messages.system }]),
          { role: "user", content: messages.user },
        ],
        ...extra,
      }),
    });
    if (!response.ok || response.body === null)
      throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    let first: number | undefined;
    let tokens = 0;
    let chunks = 0;
    let promptTokens = 0;
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const bytes of response.body) {
      buffer += decoder.decode(bytes as Uint8Array, { stream: true });
      let newline = buffer.indexOf("\n\n");
      while (newline >= 0) {
        const event = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        newline = buffer.indexOf("\n\n");
        const data = event.startsWith("data: ") ? event.slice(6) : "";
        if (data === "" || data === "[DONE]") continue;
        const chunk = JSON.parse(data) as {
          choices: { delta: { content?: string; reasoning_content?: string } }[];
          usage?: { completion_tokens: number; prompt_tokens: number } | null;
        };
        const delta = chunk.choices[0]?.delta;
        if (delta?.content || delta?.reasoning_content) {
          first ??= performance.now();
          chunks++;
        }
        if (chunk.usage) {
          tokens = chunk.usage.completion_tokens;
          promptTokens = chunk.usage.prompt_tokens;
        }
      }
    }
    const end = performance.now();
    return {
      promptTokens,
      ttftMs: (first ?? end) - started,
      totalMs: end - started,
      tokens: tokens || chunks,
    };
  };
}

/** Single-stream decode tok/s of one run (after the first token). */
async function decodeOnce(generate: Generate): Promise<number> {
  const run = await generate({ user: `Tell me a long story about Europe. ${Math.random()}` }, decodeTokens);
  return (run.tokens - 1) / ((run.totalMs - run.ttftMs) / 1000);
}

async function runPair(modelPath: string, threads: number) {
  // Both sides stay up for the whole pair (the weights are one mmap'd file, shared), so that the
  // single-stream decode can be measured in alternating rounds: this machine's speed drifts.
  const server = await startBastion(modelPath, threads);
  const direct = await directSide(modelPath, threads);
  const http = httpGenerate(server.url);
  try {
    process.stderr.write(`node-llama-cpp direct, ${threads} thread(s)\n`);
    const directResult = await measure(direct.generate, "direct");
    process.stderr.write(`Bastion over HTTP, ${threads} thread(s)\n`);
    const httpResult = await measure(http, "bastion");
    const directRounds = [directResult.decodeTokensPerSecond];
    const httpRounds = [httpResult.decodeTokensPerSecond];
    for (let round = 0; round < decodeRounds - 1; round++) {
      directRounds.push(await decodeOnce(direct.generate));
      httpRounds.push(await decodeOnce(http));
    }
    directResult.decodeTokensPerSecond = median(directRounds);
    httpResult.decodeTokensPerSecond = median(httpRounds);
    return { direct: directResult, bastion: httpResult };
  } finally {
    await direct.dispose();
    server.process.kill("SIGTERM");
    await new Promise((resolve) => server.process.once("exit", resolve));
  }
}

function fmt(value: number, digits = 1): string {
  return value.toFixed(digits);
}

async function main() {
  const started = performance.now();
  process.stderr.write(
    `Preparing synthetic ${flags.preset} (${weightType}); the first run writes it (~1 min)...\n`,
  );
  const model = await ensureSyntheticModel({
    preset: flags.preset,
    type: weightType as "q8_0",
    dir: join(root, ".cache", "bench-models"),
  });
  const threads = flags.threads === undefined ? defaultThreadCount() : Number(flags.threads);
  const threadCounts = flags["threads-sweep"] ? [...new Set([1, 2, threads])].sort() : [threads];
  const runs: Record<number, Awaited<ReturnType<typeof runPair>>> = {};
  for (const count of threadCounts) runs[count] = await runPair(model.path, count);

  const rows: string[][] = [["threads", "metric", "node-llama-cpp", "Bastion HTTP", "ratio"]];
  for (const count of threadCounts) {
    const { direct, bastion } = runs[count]!;
    const add = (metric: string, a: number, b: number, digits = 1) =>
      rows.push([String(count), metric, fmt(a, digits), fmt(b, digits), fmt(b / a, 2)]);
    add("TTFT, short prompt (ms)", direct.ttftMs, bastion.ttftMs, 0);
    add("prefill (tok/s, ~540-token prompt)", direct.prefillTokensPerSecond, bastion.prefillTokensPerSecond);
    add(
      `decode, 1 stream (tok/s, median of ${decodeRounds})`,
      direct.decodeTokensPerSecond,
      bastion.decodeTokensPerSecond,
      2,
    );
    for (const concurrency of concurrencies) {
      add(
        `aggregate decode, ${concurrency} streams (tok/s)`,
        direct.aggregate[concurrency]!,
        bastion.aggregate[concurrency]!,
        2,
      );
    }
    add("TTFT, 1k system prompt, 1st (ms)", direct.prefixFirstTtftMs, bastion.prefixFirstTtftMs, 0);
    add("TTFT, 1k system prompt, 2nd (ms)", direct.prefixSecondTtftMs, bastion.prefixSecondTtftMs, 0);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  const table = [
    line(rows[0]!),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...rows.slice(1).map(line),
  ];

  const main = runs[threads]!;
  const summary = {
    decodeHttpOverDirect: main.bastion.decodeTokensPerSecond / main.direct.decodeTokensPerSecond,
    aggregate4OverSingle: main.bastion.aggregate[4]! / main.bastion.aggregate[1]!,
    prefixSecondOverFirst: main.bastion.prefixSecondTtftMs / main.bastion.prefixFirstTtftMs,
  };
  const targets = [
    `decode through HTTP / direct: ${fmt(summary.decodeHttpOverDirect, 3)} (target >= 0.95)`,
    `aggregate decode at 4 streams / 1 stream (HTTP): ${fmt(summary.aggregate4OverSingle, 2)} (target >= 2)`,
    `TTFT of a 2nd request sharing a 1k system prompt / 1st (HTTP): ${fmt(summary.prefixSecondOverFirst, 3)} (target <= 0.3)`,
  ];
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
  console.log(
    `\nSynthetic ${flags.preset} ${weightType.toUpperCase()}, context ${contextSize}/sequence, ${decodeTokens} tokens per stream, ${machine}\n`,
  );
  console.log(table.join("\n"));
  console.log(`\n${targets.join("\n")}`);
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = join(resultsDir, `engine-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, preset: flags.preset, type: weightType, contextSize, decodeTokens, defaultThreads: threads, runs, summary, table }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

/** Decode speed of one engine request, from the engine's own timings (tokens after the first / time). */
async function engineDecode(runner: ModelRunner, messages: ChatMessage[], maxTokens: number) {
  let usage: Usage | undefined;
  let generationMs = 0;
  let drafts: { accepted: number; rejected: number } | undefined;
  let text = "";
  for await (const part of runner.generate(
    { model: runner.id, messages, sampling: { temperature: 0 }, maxTokens },
    { signal: new AbortController().signal },
  )) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") {
      usage = part.usage;
      generationMs = part.timings?.generationMs ?? 0;
      drafts = part.timings?.drafts;
    }
  }
  const tokens = usage?.completionTokens ?? 0;
  return { tokens, text, drafts, tokensPerSecond: (tokens - 1) / (generationMs / 1000) };
}

/**
 * `--speculative`: prompt lookup off and on, both runners loaded for the whole run and each round
 * alternating which goes first, so that a change of load hits both sides alike.
 */
async function speculativeMain() {
  const started = performance.now();
  const { path } = await ensureSyntheticModel({
    preset: "scripted-r1-1.5b",
    dir: join(root, ".cache", "bench-models"),
  });
  const threads = flags.threads === undefined ? defaultThreadCount() : Number(flags.threads);
  const llama = await getLlamaRuntime({ gpu: false });
  const words = scriptedPassageText.split(" ");
  const user = (content: string): ChatMessage[] => [{ role: "user", content }];
  const cases: Record<string, (round: number) => ChatMessage[]> = {
    "copy: the passage is in the user message": (round) =>
      user(`Repeat this passage word for word: ${scriptedPassageText} (${round})`),
    "copy: the passage is in the system prompt (RAG)": (round) => [
      { role: "system", content: `Answer from this document:\n${scriptedPassageText}` },
      { role: "user", content: `Quote the document. (${round})` },
    ],
    "half: half of the passage is in the prompt": (round) =>
      user(`Continue this: ${words.slice(0, words.length / 2).join(" ")} (${round})`),
    "nothing to copy": (round) => user(`Write a long text about rivers. (${round})`),
  };
  const maxTokens = flags.quick ? 64 : 200;
  const rounds = flags.quick ? 3 : 5;
  const sides = ["off", "prompt-lookup"] as const;
  const runners = {} as Record<(typeof sides)[number], ModelRunner>;
  for (const speculative of sides) {
    runners[speculative] = await loadModelRunner({
      llama,
      id: "bench",
      path,
      parallel: 1,
      contextSize: 2048,
      threads,
      maxQueue: 0,
      speculative,
    });
    await engineDecode(runners[speculative], user("Warm up."), 8);
  }
  const results: Record<string, Record<string, number[]>> = {};
  const drafts: Record<string, { accepted: number; rejected: number }> = {};
  const loads: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, messages] of Object.entries(cases)) {
        const order = round % 2 === 0 ? [...sides] : [...sides].reverse();
        for (const side of order) {
          const run = await engineDecode(runners[side], messages(round), maxTokens);
          const byCase = results[name] ?? {};
          results[name] = byCase;
          byCase[side] = [...(byCase[side] ?? []), run.tokensPerSecond];
          loads.push(loadavg()[0]!);
          if (side === "prompt-lookup") {
            const total = drafts[name] ?? { accepted: 0, rejected: 0 };
            total.accepted += run.drafts?.accepted ?? 0;
            total.rejected += run.drafts?.rejected ?? 0;
            drafts[name] = total;
          }
          process.stderr.write(
            `  round ${round} ${side} ${name}: ${run.tokensPerSecond.toFixed(2)} tok/s, ${run.tokens} tokens\n`,
          );
        }
      }
    }
  } finally {
    for (const runner of Object.values(runners)) await runner.dispose();
  }
  const rows = [
    ["request", "off (tok/s)", "prompt lookup (tok/s)", "ratio", "per-round ratios", "drafts kept/refuted"],
  ];
  const summary: Record<string, number> = {};
  for (const [name, bySide] of Object.entries(results)) {
    const off = median(bySide.off ?? []);
    const on = median(bySide["prompt-lookup"] ?? []);
    summary[name] = on / off;
    const perRound = (bySide.off ?? []).map((value, index) =>
      fmt((bySide["prompt-lookup"]?.[index] ?? 0) / value, 2),
    );
    const counted = drafts[name];
    rows.push([
      name,
      fmt(off, 2),
      fmt(on, 2),
      fmt(on / off, 2),
      perRound.join(" "),
      counted === undefined ? "-" : `${counted.accepted}/${counted.rejected}`,
    ]);
  }
  const table = formatTable(rows);
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
  const loadMedian = median(loads);
  console.log(
    `\nscripted-r1-1.5b Q8_0, ${threads} threads, ${maxTokens} tokens, median of ${rounds} alternating rounds, load average median ${loadMedian.toFixed(1)}, ${machine}\n\n${table}`,
  );
  console.log("\ntargets: copy >= 1.8, nothing to copy >= 0.97");
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `engine-speculative-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, threads, maxTokens, rounds, loadMedian, results, drafts, summary }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

/** Words for prompts no server can have cached: a nonce first, then words drawn at random. */
const promptWords =
  "amber river north castle winter harbour silver mountain garden letter bridge market forest engine candle village lantern meadow signal orchard copper valley island tower compass ribbon glacier canyon thunder pepper marble falcon violin cedar".split(
    " ",
  );

function freshPrompt(): string {
  const words = Array.from({ length: 48 }, () => promptWords[randomInt(promptWords.length)]);
  return `[${randomUUID()}] ${words.join(" ")}. Write a long story that uses all of these words.`;
}

/** One round against one server: a single stream, then 4 concurrent requests, all with fresh prompts. */
interface VsRound {
  decodeTokensPerSecond: number;
  /** Wall-clock throughput of 4 concurrent requests: all their tokens / time until the last ends. */
  concurrentTokensPerSecond: number;
  /** Mean time to first token of the 4 concurrent requests, ms. */
  concurrentTtftMs: number;
  /** Completion tokens each request produced (the single stream first). */
  tokens: number[];
}

async function vsRound(generate: Generate, maxTokens: number, concurrency: number): Promise<VsRound> {
  const single = await generate({ user: freshPrompt() }, maxTokens);
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: concurrency }, () => generate({ user: freshPrompt() }, maxTokens)),
  );
  const wall = (performance.now() - started) / 1000;
  return {
    decodeTokensPerSecond: (single.tokens - 1) / ((single.totalMs - single.ttftMs) / 1000),
    concurrentTokensPerSecond: runs.reduce((sum, run) => sum + run.tokens, 0) / wall,
    concurrentTtftMs: runs.reduce((sum, run) => sum + run.ttftMs, 0) / runs.length,
    tokens: [single.tokens, ...runs.map((run) => run.tokens)],
  };
}

/**
 * The sampling both servers get, stated in full: node-llama-cpp's defaults for what Bastion leaves
 * unset (top-k 40, top-p 0.95, min-p 0). Left to itself llama-server would use its own (min-p
 * 0.05, temperature 0.8).
 */
const vsSampling = { temperature: 0.7, top_k: 40, top_p: 0.95, min_p: 0 };

/**
 * llama-server's other samplers, off as they are by default, stated so that no default can skew
 * the run. Bastion runs none of them for these requests; it is not sent them, because a
 * `presence_penalty` of 0 would turn its penalty stage on.
 */
const llamaServerSamplersOff = {
  repeat_penalty: 1,
  presence_penalty: 0,
  frequency_penalty: 0,
  dry_multiplier: 0,
  xtc_probability: 0,
  typical_p: 1,
  top_n_sigma: -1,
  mirostat: 0,
};

/** The libggml-cpu libraries a process has mapped (node-llama-cpp picks a CPU variant at run time). */
function cpuBackends(pid: number | "self" | undefined): string {
  try {
    const maps = readFileSync(`/proc/${pid ?? "self"}/maps`, "utf8");
    return [...new Set(maps.match(/libggml-cpu[\w.-]*\.so[\w.]*/g) ?? [])].join(", ") || "?";
  } catch {
    return "?";
  }
}

/** Raw speed without a server: prompt tokens in one batch, then single-token decodes. */
interface KernelRound {
  promptTokensPerSecond: number;
  generationTokensPerSecond: number;
}

/**
 * llama.cpp's kernels as built for llama-server (llama-bench) against node-llama-cpp's prebuilt
 * ones (what Bastion runs), driven the same way: `prompt` tokens in one batch of 512, then
 * `generate` single-token decodes from an empty context, each computing its logits, same threads;
 * alternating rounds. If these differ, the servers' comparison measures the builds, not the servers.
 */
async function kernelPair(
  build: LlamaCppBuild,
  modelPath: string,
  threads: number,
  prompt: number,
  generate: number,
  rounds: number,
) {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({
    sequences: 1,
    contextSize: prompt + generate + 64,
    threads,
    batchSize: 512,
  });
  const sequence = context.getSequence();
  const tokens = model.tokenize(Array.from({ length: 8 }, freshPrompt).join(" "));
  if (tokens.length < prompt + generate) throw new Error("kernel check: not enough prompt tokens");
  const nodeRound = async (): Promise<KernelRound> => {
    await sequence.clearHistory();
    let started = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, prompt));
    const promptTokensPerSecond = prompt / ((performance.now() - started) / 1000);
    await sequence.clearHistory();
    started = performance.now();
    // Each generated token needs the logits of its position (llama-bench's decodes output them):
    // `evaluateWithoutGeneratingNewTokens` asks for none, so llama.cpp would skip the output layer
    // (151,936 × 1,536 weights) and most of the last layer: 60 instead of 80 ms a token on the
    // 2-core Xeon (bench/support/engine-steps.ts), which made node-llama-cpp's kernels look 1.10x
    // faster than llama-bench's. `evaluate` is the generator a generation runs on: one sampler for
    // the whole run (greedy, temperature 0), each step decodes one token with its logits and picks
    // the next. `controlledEvaluate` creates and frees a sampler per call, which cost about 6 ms a
    // token that llama-bench does not pay. Each step is fed the next prompt token instead of the
    // picked one (llama-bench feeds random tokens), and an end-of-generation pick does not stop it.
    const steps = sequence.evaluate([tokens[prompt]!], { temperature: 0, yieldEogToken: true });
    try {
      let next = await steps.next();
      for (let index = 1; index < generate && next.done !== true; index++)
        next = await steps.next(tokens[prompt + index]!);
      if (next.done === true) throw new Error("kernel check: the generation stopped early");
    } finally {
      await steps.return();
    }
    return {
      promptTokensPerSecond,
      generationTokensPerSecond: generate / ((performance.now() - started) / 1000),
    };
  };
  try {
    await nodeRound(); // warm-up, as llama-bench does its own
    const results: { "llama-bench": KernelRound[]; "node-llama-cpp": KernelRound[] } = {
      "llama-bench": [],
      "node-llama-cpp": [],
    };
    let benchArgs: string[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0
        ? ["llama-bench", "node-llama-cpp"]
        : ["node-llama-cpp", "llama-bench"]) {
        let result: KernelRound;
        if (side === "llama-bench") {
          const bench: LlamaBenchResult = await runLlamaBench(build, modelPath, threads, prompt, generate);
          benchArgs = bench.args;
          result = bench;
          results["llama-bench"].push({
            promptTokensPerSecond: bench.promptTokensPerSecond,
            generationTokensPerSecond: bench.generationTokensPerSecond,
          });
        } else {
          result = await nodeRound();
          results["node-llama-cpp"].push(result);
        }
        process.stderr.write(
          `  kernel, ${threads} thread(s), round ${round + 1}, ${side}: prompt ${fmt(result.promptTokensPerSecond, 1)} tok/s, generation ${fmt(result.generationTokensPerSecond, 2)} tok/s\n`,
        );
      }
    }
    return {
      prompt,
      generate,
      llamaBenchArgs: benchArgs,
      nodeLlamaCppCpuBackend: cpuBackends("self"),
      results,
    };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * Bastion against llama-server at one thread count: both up at once on the same mmap'd model file,
 * same threads, parallel sequences, context per sequence, batch sizes and sampling, measured in
 * alternating rounds (the order flips every round) because this machine's speed drifts.
 */
async function vsPair(
  build: LlamaCppBuild,
  modelPath: string,
  threads: number,
  maxTokens: number,
  rounds: number,
) {
  const parallel = 4;
  const contextPerSequence = 2048;
  const bastion = await startBastion(modelPath, threads, parallel, contextPerSequence);
  let llamaServer: Awaited<ReturnType<typeof startLlamaServer>> | undefined;
  try {
    llamaServer = await startLlamaServer({
      binary: build.server,
      modelPath,
      port: 20_000 + randomInt(2000),
      threads,
      parallel,
      contextPerSequence,
    });
    const llamaServerRequest = { ...vsSampling, ...llamaServerSamplersOff, ignore_eos: true };
    const sides = {
      bastion: httpGenerate(bastion.url, vsSampling),
      // llama-server can ignore the end-of-generation token; Bastion cannot, so tok/s is taken over
      // the tokens each one produced and the table shows the fewest any request produced.
      "llama-server": httpGenerate(llamaServer.url, llamaServerRequest),
    };
    for (const [name, generate] of Object.entries(sides)) {
      process.stderr.write(`  warming up ${name}\n`);
      await generate({ user: "Warm up." }, 4);
      await Promise.all(Array.from({ length: parallel }, () => generate({ user: freshPrompt() }, 4)));
    }
    const results: Record<keyof typeof sides, VsRound[]> = { bastion: [], "llama-server": [] };
    for (let round = 0; round < rounds; round++) {
      const order = (round % 2 === 0 ? ["llama-server", "bastion"] : ["bastion", "llama-server"]) as (
        | "bastion"
        | "llama-server"
      )[];
      for (const name of order) {
        const result = await vsRound(sides[name], maxTokens, parallel);
        results[name].push(result);
        process.stderr.write(
          `  ${threads} thread(s), round ${round + 1}, ${name}: decode ${fmt(result.decodeTokensPerSecond, 2)} tok/s, 4 concurrent ${fmt(result.concurrentTokensPerSecond, 2)} tok/s, TTFT ${fmt(result.concurrentTtftMs, 0)} ms, tokens ${result.tokens.join("/")}, load ${fmt(loadavg()[0]!, 1)}\n`,
        );
      }
    }
    return {
      parallel,
      contextPerSequence,
      bastionArgs: bastion.args,
      bastionCpuBackend: cpuBackends(bastion.process.pid),
      llamaServerArgs: llamaServer.args,
      requests: { bastion: vsSampling, "llama-server": llamaServerRequest },
      results,
    };
  } finally {
    await llamaServer?.stop();
    bastion.process.kill("SIGTERM");
    await new Promise((resolve) => bastion.process.once("exit", resolve));
  }
}

/** The model file both sides load: a synthetic one, or (Q4_K_M) llama.cpp's requantisation of ours. */
async function vsModel(build: LlamaCppBuild): Promise<string> {
  const dir = join(root, ".cache", "bench-models");
  if (weightType !== "q4_k_m")
    return (await ensureSyntheticModel({ preset: flags.preset, type: weightType as "q4_0", dir })).path;
  const source = await ensureSyntheticModel({ preset: flags.preset, type: "q8_0", dir });
  return ensureQuantized(build, source.path, source.path.replace(".q8_0.", ".q4_k_m."), "Q4_K_M");
}

async function vsLlamaServerMain() {
  const started = performance.now();
  const build = await ensureLlamaCppBuild({
    root,
    jobs: availableParallelism(),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`Preparing synthetic ${flags.preset} (${weightType})...\n`);
  const modelPath = await vsModel(build);
  const threads = flags.threads === undefined ? defaultThreadCount() : Number(flags.threads);
  const threadCounts = flags["threads-sweep"] ? [...new Set([1, 2, threads])].sort() : [threads];
  const maxTokens = flags.quick ? 24 : 64;
  const rounds = Math.max(3, flags.rounds === undefined ? 3 : Number(flags.rounds));
  const kernelPrompt = flags.quick ? 64 : 128;
  const kernelGenerate = flags.quick ? 16 : 32;
  const loadBefore = loadavg();
  const runs: Record<
    number,
    Awaited<ReturnType<typeof vsPair>> & { kernel: Awaited<ReturnType<typeof kernelPair>> }
  > = {};
  for (const count of threadCounts) {
    const kernel = await kernelPair(build, modelPath, count, kernelPrompt, kernelGenerate, rounds);
    runs[count] = { ...(await vsPair(build, modelPath, count, maxTokens, rounds)), kernel };
  }

  // "per round": each round's own ratio. The two sides of a round ran minutes apart at most, so a
  // change of the machine's load shows up there as one odd round instead of shifting a median.
  const rows = [["threads", "metric", "llama.cpp", "Bastion", "ratio", "per round", "target"]];
  const summary: Record<number, Record<string, number>> = {};
  for (const count of threadCounts) {
    const { results, kernel } = runs[count]!;
    const addRow = (
      name: string,
      key: string,
      theirs: number,
      ours: number,
      digits: number,
      target: string,
      perRound: number[] = [],
    ) => {
      summary[count] = { ...summary[count], [key]: ours / theirs };
      rows.push([
        String(count),
        name,
        fmt(theirs, digits),
        fmt(ours, digits),
        fmt(ours / theirs, 2),
        perRound.map((ratio) => fmt(ratio, 2)).join(" "),
        target,
      ]);
    };
    const kernelMedian = (side: KernelRound[], pick: (round: KernelRound) => number) =>
      median(side.map(pick));
    const kernelRounds = (pick: (round: KernelRound) => number) =>
      kernel.results["node-llama-cpp"].map(
        (round, index) => pick(round) / pick(kernel.results["llama-bench"][index]!),
      );
    addRow(
      `kernel: prompt, ${kernelPrompt} tokens (tok/s; llama-bench vs node-llama-cpp)`,
      "kernelPrompt",
      kernelMedian(kernel.results["llama-bench"], (r) => r.promptTokensPerSecond),
      kernelMedian(kernel.results["node-llama-cpp"], (r) => r.promptTokensPerSecond),
      1,
      "",
      kernelRounds((r) => r.promptTokensPerSecond),
    );
    addRow(
      `kernel: generation, ${kernelGenerate} tokens (tok/s; llama-bench vs node-llama-cpp)`,
      "kernelGeneration",
      kernelMedian(kernel.results["llama-bench"], (r) => r.generationTokensPerSecond),
      kernelMedian(kernel.results["node-llama-cpp"], (r) => r.generationTokensPerSecond),
      2,
      "",
      kernelRounds((r) => r.generationTokensPerSecond),
    );
    const metric = (side: VsRound[], pick: (round: VsRound) => number) => median(side.map(pick));
    const add = (
      name: string,
      key: string,
      pick: (round: VsRound) => number,
      digits: number,
      target: string,
    ) =>
      addRow(
        name,
        key,
        metric(results["llama-server"], pick),
        metric(results.bastion, pick),
        digits,
        target,
        results.bastion.map((round, index) => pick(round) / pick(results["llama-server"][index]!)),
      );
    add(
      `server: decode, 1 stream (tok/s, median of ${rounds})`,
      "decode",
      (r) => r.decodeTokensPerSecond,
      2,
      ">= 1.0",
    );
    add(
      "server: 4 concurrent fresh requests, wall-clock throughput (tok/s)",
      "concurrent4Throughput",
      (r) => r.concurrentTokensPerSecond,
      2,
      ">= 1.1",
    );
    add(
      "server: TTFT at 4 concurrent (ms, mean of 4)",
      "concurrent4Ttft",
      (r) => r.concurrentTtftMs,
      0,
      "<= 1.0",
    );
    const fewest = (side: VsRound[]) => Math.min(...side.flatMap((round) => round.tokens));
    rows.push([
      String(count),
      `server: fewest tokens any request produced (of ${maxTokens})`,
      String(fewest(results["llama-server"])),
      String(fewest(results.bastion)),
      "",
      "",
      "",
    ]);
  }
  const table = formatTable(rows);
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
  const loadAfter = loadavg();
  console.log(
    `\nSynthetic ${flags.preset} ${weightType.toUpperCase()}, 4 parallel sequences × 2048 tokens, ${maxTokens} tokens per request, ${rounds} alternating rounds, ${machine}, load ${fmt(loadBefore[0]!, 1)} → ${fmt(loadAfter[0]!, 1)}\n`,
  );
  console.log(table);
  console.log(
    "\nratios are Bastion / llama-server (kernel rows: node-llama-cpp's prebuilt / our llama.cpp build)",
  );
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(
    resultsDir,
    `engine-vs-llama-server-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, load: { before: loadBefore, after: loadAfter }, preset: flags.preset, type: weightType, modelPath, llamaCpp: { commit: build.commit, cmakeOptions: build.cmakeOptions }, maxTokens, rounds, runs, summary, table }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

if (flags["vs-llama-server"]) await vsLlamaServerMain();
else if (flags.speculative) await speculativeMain();
else await main();
