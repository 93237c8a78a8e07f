/**
 * `npm run bench:engine`: Bastion's HTTP API against node-llama-cpp called directly, side by side in
 * one run, on a shape-true synthetic DeepSeek-R1-Distill-Qwen-1.5B (Q8_0). Prints a table and
 * writes JSON to bench/results/. Options: --threads N (default: Bastion's measured default),
 * --threads-sweep (also compare 1 and 2 threads), --quick (fewer tokens, for a smoke run).
 * --speculative: prompt lookup on against off, on the scripted 1.5B that writes a known passage
 * (a request that copies it from the prompt, one with half of it, one with nothing to copy).
 *
 * This program imports node-llama-cpp itself on purpose: it is the reference Bastion is measured against.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
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
import type { Usage } from "../src/core/chat.ts";
import { getLlamaRuntime } from "../src/engine/llama.ts";
import { loadModelRunner, type ModelRunner } from "../src/engine/model-runner.ts";
import { defaultThreadCount } from "../src/engine/threads.ts";
import { scriptedPassageText } from "../src/models/scripted-passage.ts";
import { ensureSyntheticModel } from "../src/models/synth.ts";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string" },
    "threads-sweep": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    preset: { type: "string", default: "deepseek-r1-distill-qwen-1.5b" },
    type: { type: "string", default: "q8_0" },
    speculative: { type: "boolean", default: false },
  },
});

const root = join(import.meta.dirname, "..");
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
): Promise<{ url: string; process: ChildProcess }> {
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const child = spawn(
    process.execPath,
    [
      join(root, "bin", "bastion.js"),
      "serve",
      "--model",
      `bench=${modelPath}`,
      "--port",
      String(port),
      "--parallel",
      "8",
      "--ctx-size",
      String(contextSize),
      "--threads",
      String(threads),
    ],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, BASTION_LOG_LEVEL: "warn" } },
  );
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
        return { url, process: child };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error("Bastion did not start within 60 s");
}

/** Bastion over HTTP with streaming, as an OpenAI client sees it. */
function httpGenerate(url: string): Generate {
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
      }),
    });
    if (!response.ok || response.body === null)
      throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    let first: number | undefined;
    let tokens = 0;
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
        if (delta?.content || delta?.reasoning_content) first ??= performance.now();
        if (chunk.usage) {
          tokens = chunk.usage.completion_tokens;
          promptTokens = chunk.usage.prompt_tokens;
        }
      }
    }
    const end = performance.now();
    return { promptTokens, ttftMs: (first ?? end) - started, totalMs: end - started, tokens };
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
    `Preparing synthetic ${flags.preset} (${flags.type}); the first run writes it (~1 min)...\n`,
  );
  const model = await ensureSyntheticModel({
    preset: flags.preset,
    type: flags.type as "q8_0",
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
    `\nSynthetic ${flags.preset} ${flags.type.toUpperCase()}, context ${contextSize}/sequence, ${decodeTokens} tokens per stream, ${machine}\n`,
  );
  console.log(table.join("\n"));
  console.log(`\n${targets.join("\n")}`);
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = join(resultsDir, `engine-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, preset: flags.preset, type: flags.type, contextSize, decodeTokens, defaultThreads: threads, runs, summary, table }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

/** Decode speed of one engine request, from the engine's own timings (tokens after the first / time). */
async function engineDecode(runner: ModelRunner, user: string, maxTokens: number) {
  let usage: Usage | undefined;
  let generationMs = 0;
  let text = "";
  for await (const part of runner.generate(
    {
      model: runner.id,
      messages: [{ role: "user", content: user }],
      sampling: { temperature: 0 },
      maxTokens,
    },
    { signal: new AbortController().signal },
  )) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") {
      usage = part.usage;
      generationMs = part.timings?.generationMs ?? 0;
    }
  }
  const tokens = usage?.completionTokens ?? 0;
  return { tokens, text, tokensPerSecond: (tokens - 1) / (generationMs / 1000) };
}

async function speculativeMain() {
  const started = performance.now();
  const { path } = await ensureSyntheticModel({
    preset: "scripted-r1-1.5b",
    dir: join(root, ".cache", "bench-models"),
  });
  const threads = flags.threads === undefined ? defaultThreadCount() : Number(flags.threads);
  const llama = await getLlamaRuntime({ gpu: false });
  const words = scriptedPassageText.split(" ");
  const cases = {
    "copy: the passage is in the prompt": `Repeat this passage word for word: ${scriptedPassageText}`,
    "half: half of the passage is in the prompt": `Continue this: ${words.slice(0, words.length / 2).join(" ")}`,
    "nothing to copy": "Write a long text about rivers.",
  };
  const maxTokens = flags.quick ? 64 : 200;
  const rounds = flags.quick ? 1 : 3;
  const results: Record<string, Record<string, number[]>> = {};
  for (const speculative of ["off", "prompt-lookup"] as const) {
    const runner = await loadModelRunner({
      llama,
      id: "bench",
      path,
      parallel: 1,
      contextSize: 2048,
      threads,
      maxQueue: 0,
      speculative,
    });
    try {
      await engineDecode(runner, "Warm up.", 8);
      for (const [name, prompt] of Object.entries(cases)) {
        for (let round = 0; round < rounds; round++) {
          const run = await engineDecode(runner, `${prompt} (${round})`, maxTokens);
          const sides = results[name] ?? {};
          results[name] = sides;
          sides[speculative] = [...(sides[speculative] ?? []), run.tokensPerSecond];
          process.stderr.write(
            `  ${speculative} ${name}: ${run.tokensPerSecond.toFixed(2)} tok/s, ${run.tokens} tokens\n`,
          );
        }
      }
    } finally {
      await runner.dispose();
    }
  }
  const rows = [["request", "off (tok/s)", "prompt lookup (tok/s)", "ratio"]];
  const summary: Record<string, number> = {};
  for (const [name, sides] of Object.entries(results)) {
    const off = median(sides.off ?? []);
    const on = median(sides["prompt-lookup"] ?? []);
    summary[name] = on / off;
    rows.push([name, fmt(off, 2), fmt(on, 2), fmt(on / off, 2)]);
  }
  const table = formatTable(rows);
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
  console.log(
    `\nscripted-r1-1.5b Q8_0, ${threads} threads, ${maxTokens} tokens, median of ${rounds}, ${machine}\n\n${table}`,
  );
  console.log("\ntargets: copy >= 1.8, nothing to copy >= 0.97");
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `engine-speculative-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, threads, maxTokens, rounds, results, summary }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

if (flags.speculative) await speculativeMain();
else await main();
