/**
 * Where a decoded token's time goes, step by step, in one process and alternating rounds:
 *   node bench/support/engine-steps.ts <model.gguf> [modes] [rounds] [tokens]
 * modes (comma-separated, default all):
 * - `kernel`: single-token decodes that ask for no logits (llama.cpp then skips the output layer);
 * - `kernel-logits`: the same with the logits of each token and a greedy pick (what llama-bench's
 *   generation test computes);
 * - `runner`, `runner-off`: Bastion's engine (loadModelRunner.generate) with prompt lookup on (the
 *   default) or off, the request the `--vs-llama-server` bench sends, no HTTP;
 * - `http`: a `bastion serve` child over HTTP with streaming; `llama-server`: llama.cpp's server
 *   (bench/llama-server.ts builds it), same model, threads, sequences and sampling.
 * In-process modes split each token's time into llama.cpp's decode of the batch and the gap until
 * the next decode starts (sampling, node-llama-cpp's and Bastion's JavaScript, thread hand-offs);
 * "cpu" is this process's CPU time per token, every thread together. Fresh prompts every request.
 * Prints each round and the medians, and writes them to bench/results/engine-steps-<date>.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { getLlama, type LlamaContext, LlamaLogLevel, LlamaModel, type Token } from "node-llama-cpp";
import { loadModelRunner, type ModelRunner } from "../../src/engine/model-runner.ts";
import { ensureLlamaCppBuild, startLlamaServer } from "../llama-server.ts";

const allModes = ["kernel", "kernel-logits", "runner", "runner-off", "http", "llama-server"] as const;
type Mode = (typeof allModes)[number];
const modelPath = process.argv[2];
if (modelPath === undefined) {
  console.error("usage: node bench/support/engine-steps.ts <model.gguf> [modes] [rounds] [tokens]");
  process.exit(2);
}
const modes = (process.argv[3]?.split(",") ?? [...allModes]) as Mode[];
for (const mode of modes) if (!allModes.includes(mode)) throw new Error(`unknown mode ${mode}`);
const rounds = Number(process.argv[4] ?? 3);
const tokens = Number(process.argv[5] ?? 48);
const threads = 2;
const root = join(import.meta.dirname, "..", "..");
const sampling = { temperature: 0.7, topK: 40, topP: 0.95, minP: 0 };
const words =
  "amber river north castle winter harbour silver mountain garden letter bridge market forest engine candle village lantern meadow signal orchard copper valley island tower compass ribbon glacier canyon thunder pepper marble falcon violin cedar".split(
    " ",
  );
const freshPrompt = () =>
  `[${randomUUID()}] ${Array.from({ length: 48 }, () => words[randomInt(words.length)]).join(" ")}. Write a long story that uses all of these words.`;

/** Every decode of an instrumented context: when it started and ended. */
interface Decode {
  start: number;
  end: number;
}
const decodes = new Map<LlamaContext, Decode[]>();
/** Wraps a context's native decode to record its timing (the addon's methods are read-only on the prototype). */
function instrument(context: LlamaContext): void {
  const native = (context as unknown as { _ctx: { decodeBatch: () => Promise<void> } })._ctx;
  const decodeBatch = native.decodeBatch;
  const list: Decode[] = [];
  decodes.set(context, list);
  Object.defineProperty(native, "decodeBatch", {
    configurable: true,
    value: async function (this: unknown) {
      const start = performance.now();
      try {
        return await decodeBatch.call(this);
      } finally {
        list.push({ start, end: performance.now() });
      }
    },
  });
}
// The runners create their contexts inside loadModelRunner: catch them on the way out.
const created: LlamaContext[] = [];
const createContext = LlamaModel.prototype.createContext;
LlamaModel.prototype.createContext = async function (this: LlamaModel, ...args) {
  const context = await createContext.apply(this, args);
  created.push(context);
  return context;
};

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const kernelContext = await model.createContext({ sequences: 1, contextSize: 2048, threads });
instrument(kernelContext);
const kernelSequence = kernelContext.getSequence();
const runners = new Map<Mode, { runner: ModelRunner; context: LlamaContext }>();
for (const mode of modes) {
  if (mode !== "runner" && mode !== "runner-off") continue;
  const before = created.length;
  const runner = await loadModelRunner({
    id: "bench",
    path: modelPath,
    parallel: 4,
    contextSize: 2048,
    threads,
    maxQueue: 8,
    speculative: mode === "runner" ? "prompt-lookup" : "off",
    llama,
  });
  const context = created[before];
  if (context === undefined) throw new Error("the runner created no context");
  instrument(context);
  runners.set(mode, { runner, context });
}
const servers = new Map<Mode, { url: string; extra: Record<string, unknown>; stop: () => Promise<void> }>();
if (modes.includes("http")) {
  const port = 18_000 + randomInt(2000);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...["bin/bastion.js", "serve", "--model", `bench=${modelPath}`, "--port", String(port)],
      ...["--parallel", "4", "--ctx-size", "2048", "--threads", String(threads), "--no-auth"],
    ],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, BASTION_LOG_LEVEL: "warn" } },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 600) throw new Error("bastion serve did not start");
    try {
      if ((await fetch(`${url}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  servers.set("http", {
    url,
    extra: {},
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  });
}
if (modes.includes("llama-server")) {
  const build = await ensureLlamaCppBuild({ root, jobs: 2, log: (line) => console.error(line) });
  const server = await startLlamaServer({
    binary: build.server,
    modelPath,
    port: 20_000 + randomInt(2000),
    threads,
    parallel: 4,
    contextPerSequence: 2048,
  });
  // Its other samplers off and end-of-generation ignored, as the --vs-llama-server bench asks.
  const extra = { repeat_penalty: 1, presence_penalty: 0, frequency_penalty: 0, dry_multiplier: 0 };
  servers.set("llama-server", {
    url: server.url,
    extra: { ...extra, xtc_probability: 0, typical_p: 1, top_n_sigma: -1, mirostat: 0, ignore_eos: true },
    stop: server.stop,
  });
}

/** One request's result: wall time per token after the first, and its split where measured. */
interface Step {
  msPerToken: number;
  decodeMsPerToken?: number;
  gapMsPerToken?: number;
  cpuMsPerToken: number;
  note: string;
}

/** Times the tokens after the first: `mark` is called once per token as it arrives. */
function timer() {
  const stamps: number[] = [];
  let cpu = process.cpuUsage();
  return {
    mark() {
      if (stamps.length === 0) cpu = process.cpuUsage();
      stamps.push(performance.now());
    },
    result(context: LlamaContext | undefined, note = ""): Step {
      const used = process.cpuUsage(cpu);
      const first = stamps[0] ?? 0;
      const last = stamps.at(-1) ?? 0;
      const count = Math.max(1, stamps.length - 1);
      const step: Step = {
        msPerToken: (last - first) / count,
        cpuMsPerToken: (used.user + used.system) / 1000 / count,
        note,
      };
      const list = context === undefined ? undefined : decodes.get(context);
      if (list !== undefined) {
        // The decodes that produced the timed tokens: those that ended after the first one arrived.
        const timed = list.filter((decode) => decode.end > first && decode.end <= last + 0.001);
        const decodeMs = timed.reduce((sum, decode) => sum + decode.end - decode.start, 0);
        step.decodeMsPerToken = decodeMs / count;
        step.gapMsPerToken = (last - first - decodeMs) / count;
      }
      list?.splice(0);
      return step;
    },
  };
}

async function streamOverHttp(url: string, extra: Record<string, unknown>, mark: () => void): Promise<void> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      stream: true,
      max_tokens: tokens + 1,
      temperature: sampling.temperature,
      top_k: sampling.topK,
      top_p: sampling.topP,
      min_p: sampling.minP,
      messages: [{ role: "user", content: freshPrompt() }],
      ...extra,
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const data = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (!data.startsWith("{")) continue;
      const delta = (JSON.parse(data) as { choices?: { delta?: Record<string, string> }[] }).choices?.[0]
        ?.delta;
      if (delta?.content || delta?.reasoning_content) mark();
    }
  }
}

async function run(mode: Mode): Promise<Step> {
  const time = timer();
  if (mode === "kernel" || mode === "kernel-logits") {
    await kernelSequence.clearHistory();
    const prompt = model.tokenize(freshPrompt());
    await kernelSequence.evaluateWithoutGeneratingNewTokens(prompt);
    time.mark();
    for (let index = 0; index < tokens; index++) {
      const token = prompt[index % prompt.length] as Token;
      if (mode === "kernel") await kernelSequence.evaluateWithoutGeneratingNewTokens([token]);
      else await kernelSequence.controlledEvaluate([[token, { generateNext: { token: true } }]]);
      time.mark();
    }
    return time.result(kernelContext);
  }
  const server = servers.get(mode);
  if (server !== undefined) {
    await streamOverHttp(server.url, server.extra, time.mark);
    return time.result(undefined);
  }
  const entry = runners.get(mode);
  if (entry === undefined) throw new Error(`no runner for ${mode}`);
  let note = "";
  const request = {
    model: "bench",
    messages: [{ role: "user" as const, content: freshPrompt() }],
    sampling,
    maxTokens: tokens + 1,
  };
  for await (const part of entry.runner.generate(request, { signal: new AbortController().signal })) {
    if (part.type === "text-delta" || part.type === "reasoning-delta") time.mark();
    if (part.type === "finish") {
      const drafts = part.timings?.drafts;
      note = `${part.usage.completionTokens} tokens${drafts === undefined ? "" : `, drafts kept/refuted ${drafts.accepted}/${drafts.rejected}`}`;
    }
  }
  return time.result(entry.context, note);
}

const loadBefore = loadavg();
const fmt = (value: number | undefined) => (value === undefined ? "-" : value.toFixed(1));
const results = new Map<Mode, Step[]>();
try {
  for (const mode of modes) await run(mode); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const step = await run(mode);
      results.set(mode, [...(results.get(mode) ?? []), step]);
      console.log(
        `round ${round + 1} ${mode.padEnd(13)} ${fmt(step.msPerToken)} ms/token (decode ${fmt(step.decodeMsPerToken)}, gap ${fmt(step.gapMsPerToken)}), cpu ${fmt(step.cpuMsPerToken)} ms/token, ${step.note} load ${loadavg()[0]?.toFixed(2)}`,
      );
    }
  }
} finally {
  for (const server of servers.values()) await server.stop();
  for (const { runner } of runners.values()) await runner.dispose();
  await kernelContext.dispose();
  await model.dispose();
}
const median = (values: (number | undefined)[]) => {
  const known = values.filter((value) => value !== undefined).sort((a, b) => a - b);
  return known[Math.floor(known.length / 2)];
};
console.log(`\nmedians of ${rounds} rounds, ${tokens} tokens, ${threads} threads:`);
for (const [mode, steps] of results)
  console.log(
    `${mode.padEnd(13)} ${fmt(median(steps.map((step) => step.msPerToken)))} ms/token (decode ${fmt(median(steps.map((step) => step.decodeMsPerToken)))}, gap ${fmt(median(steps.map((step) => step.gapMsPerToken)))})`,
  );
const resultsDir = join(root, "bench", "results");
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `engine-steps-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), modelPath, threads, tokens, rounds, load: { before: loadBefore, after: loadavg() }, results: Object.fromEntries(results) }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
