/**
 * Who takes the cores while a server decodes: Bastion (`bastion serve`) and llama.cpp's llama-server
 * side by side, same model, threads, sequences and sampling, alternating single-stream requests of
 * fresh prompts, each under a system-wide `perf sched record` (needs perf with the sched tracepoints).
 *   node bench/support/engine-sched.ts <model.gguf> [rounds] [tokens] [bastion serve options...]
 * For the decode of each request (first streamed token to the last) it prints the server's tok/s
 * and, from the scheduler's own events:
 * - `run`: CPU ms of the server's threads, and how many distinct threads ran;
 * - `delay`: ms its threads were runnable but waited for a core (ggml's 2 threads spin at barriers,
 *   so a compute thread that waits stalls the other too);
 * - `preempted`: how often one of its threads lost its core while runnable, and to whom (its own
 *   threads or other processes);
 * - `others`: CPU ms of every other process in that time; `idle`: ms the cores sat idle.
 * ENGINE_SCHED_SERVERS picks the servers (default `bastion,llama-server`; `bastion-fixed` is Bastion
 * with its thread governor off, BASTION_ADAPTIVE_THREADS=0). Writes every round to
 * bench/results/engine-sched-<date>.json.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureLlamaCppBuild, startLlamaServer } from "../llama-server.ts";

const modelPath = process.argv[2];
if (modelPath === undefined) {
  console.error(
    "usage: node bench/support/engine-sched.ts <model.gguf> [rounds] [tokens] [serve options...]",
  );
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 3);
const tokens = Number(process.argv[4] ?? 64);
const serveOptions = process.argv.slice(5);
const threads = 2;
const root = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const sampling = { temperature: 0.7, top_k: 40, top_p: 0.95, min_p: 0 };
const words =
  "amber river north castle winter harbour silver mountain garden letter bridge market forest engine candle village lantern meadow signal orchard copper valley island tower compass ribbon glacier canyon thunder pepper marble falcon violin cedar".split(
    " ",
  );
const freshPrompt = () =>
  `[${randomUUID()}] ${Array.from({ length: 48 }, () => words[randomInt(words.length)]).join(" ")}. Write a long story that uses all of these words.`;

interface Server {
  name: string;
  url: string;
  pid: number;
  extra: Record<string, unknown>;
  stop(): Promise<void>;
}

/** `bastion serve`; `fixed` turns the thread governor off (BASTION_ADAPTIVE_THREADS=0). */
async function startBastion(fixed = false): Promise<Server> {
  const port = 18_000 + randomInt(2000);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...["bin/bastion.js", "serve", "--model", `bench=${modelPath}`, "--port", String(port)],
      ...["--parallel", "4", "--ctx-size", "2048", "--threads", String(threads), "--no-auth"],
      ...serveOptions,
    ],
    {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, BASTION_LOG_LEVEL: "warn", ...(fixed ? { BASTION_ADAPTIVE_THREADS: "0" } : {}) },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 1800) throw new Error("bastion serve did not start");
    try {
      if ((await fetch(`${url}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    name: fixed ? "bastion-fixed" : "bastion",
    url,
    pid: child.pid!,
    extra: {},
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function startLlama(): Promise<Server> {
  const build = await ensureLlamaCppBuild({ root, jobs: 2, log: (line) => console.error(line) });
  const server = await startLlamaServer({
    binary: build.server,
    modelPath: modelPath as string,
    port: 20_000 + randomInt(2000),
    threads,
    parallel: 4,
    contextPerSequence: 2048,
  });
  const pid = Number(
    (await run("pgrep", ["-n", "-f", `llama-server.*${server.url.split(":").at(-1)}`])).stdout,
  );
  return {
    name: "llama-server",
    url: server.url,
    pid,
    extra: {
      ...{ repeat_penalty: 1, presence_penalty: 0, frequency_penalty: 0, dry_multiplier: 0 },
      ...{ xtc_probability: 0, typical_p: 1, top_n_sigma: -1, mirostat: 0, ignore_eos: true },
    },
    stop: server.stop,
  };
}

/** One streamed request; times are CLOCK_MONOTONIC seconds (perf records with the same clock). */
async function request(server: Server, maxTokens: number) {
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  const started = now();
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: maxTokens,
      messages: [{ role: "user", content: freshPrompt() }],
      ...sampling,
      ...server.extra,
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
  let first: number | undefined;
  let chunks = 0;
  let usageTokens = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop() ?? "";
    for (const event of events) {
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as {
        choices: { delta?: { content?: string; reasoning_content?: string } }[];
        usage?: { completion_tokens: number } | null;
      };
      const delta = chunk.choices[0]?.delta;
      if (delta?.content || delta?.reasoning_content) {
        first ??= now();
        chunks++;
      }
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
    }
  }
  const end = now();
  return { started, first: first ?? end, end, chunks: usageTokens || chunks };
}

/** One `perf sched timehist --state -n` line: a task leaving a CPU. */
interface Switch {
  time: number;
  cpu: number;
  comm: string;
  tid: number;
  pid: number;
  runMs: number;
  delayMs: number;
  state: string;
  next: string;
  nextTid: number;
}

const linePattern =
  /^\s*([\d.]+)\s+\[(\d+)\]\s+(.*?)(?:\[(\d+)(?:\/(\d+))?\])?\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+next: (.*?)\s*$/;

async function schedule(file: string): Promise<Switch[]> {
  const { stdout } = await run("perf", ["sched", "timehist", "-i", file, "--state", "-n"], {
    maxBuffer: 1 << 30,
  });
  const switches: Switch[] = [];
  for (const line of stdout.split("\n")) {
    const match = linePattern.exec(line);
    if (match === null) continue;
    const tid = Number(match[4] ?? 0);
    switches.push({
      time: Number(match[1]),
      cpu: Number(match[2]),
      comm: match[3]!.trim(),
      tid,
      pid: Number(match[5] ?? match[4] ?? 0),
      delayMs: Number(match[7]),
      runMs: Number(match[8]),
      state: match[9]!,
      next: match[10]!.replace(/\[\d+(\/\d+)?\]$/, ""),
      nextTid: Number(/\[(\d+)(?:\/\d+)?\]$/.exec(match[10]!)?.[1] ?? -1),
    });
  }
  return switches;
}

/** What the scheduler did in [from, to] for the server's process, and for everything else. */
function summarise(switches: Switch[], pid: number, from: number, to: number) {
  const inWindow = switches.filter((entry) => entry.time >= from && entry.time <= to);
  const own = inWindow.filter((entry) => entry.pid === pid);
  const ownTids = new Set(switches.filter((entry) => entry.pid === pid).map((entry) => entry.tid));
  const preemptedBy: Record<string, number> = {};
  for (const entry of own) {
    if (entry.state !== "R") continue;
    const by = ownTids.has(entry.nextTid) ? `own ${entry.next}` : entry.next;
    preemptedBy[by] = (preemptedBy[by] ?? 0) + 1;
  }
  const sum = (list: Switch[], pick: (entry: Switch) => number) =>
    list.reduce((total, entry) => total + pick(entry), 0);
  const others = inWindow.filter((entry) => entry.pid !== pid && entry.comm !== "<idle>");
  const othersByComm: Record<string, number> = {};
  for (const entry of others) othersByComm[entry.comm] = (othersByComm[entry.comm] ?? 0) + entry.runMs;
  return {
    runMs: sum(own, (entry) => entry.runMs),
    threadsRan: new Set(own.map((entry) => entry.tid)).size,
    delayMs: sum(own, (entry) => entry.delayMs),
    preemptions: own.filter((entry) => entry.state === "R").length,
    preemptedBy,
    othersMs: sum(others, (entry) => entry.runMs),
    othersTop: Object.entries(othersByComm)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([comm, ms]) => `${comm} ${ms.toFixed(0)}`),
    idleMs: sum(
      inWindow.filter((entry) => entry.comm === "<idle>"),
      (entry) => entry.runMs,
    ),
  };
}

async function measured(server: Server, file: string) {
  const perf = spawn("perf", ["sched", "record", "-k", "CLOCK_MONOTONIC", "-o", file], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const perfExited = new Promise((resolve) => perf.once("exit", resolve));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const timing = await request(server, tokens);
  perf.kill("SIGINT");
  await perfExited;
  const switches = await schedule(file);
  rmSync(file, { force: true });
  const decodeSeconds = timing.end - timing.first;
  return {
    server: server.name,
    tokensPerSecond: (timing.chunks - 1) / decodeSeconds,
    decodeMs: decodeSeconds * 1000,
    ...summarise(switches, server.pid, timing.first, timing.end),
  };
}

const wanted = (process.env.ENGINE_SCHED_SERVERS ?? "bastion,llama-server").split(",");
const servers: Server[] = [];
if (wanted.includes("bastion")) servers.push(await startBastion());
if (wanted.includes("bastion-fixed")) servers.push(await startBastion(true));
if (wanted.includes("llama-server")) servers.push(await startLlama());
const results: Awaited<ReturnType<typeof measured>>[] = [];
const file = join(tmpdir(), `engine-sched-${process.pid}.data`);
try {
  for (const server of servers) await request(server, 4);
  for (let round = 0; round < rounds; round++) {
    // The order rotates every round, so no server always goes first.
    const order = servers.map((_, index) => servers[(index + round) % servers.length]!);
    for (const server of order) {
      const result = await measured(server, file);
      results.push(result);
      console.log(
        `round ${round + 1} ${result.server.padEnd(12)} ${result.tokensPerSecond.toFixed(2).padStart(6)} tok/s | run ${result.runMs.toFixed(0)} ms in ${result.threadsRan} threads, delay ${result.delayMs.toFixed(0)} ms, preempted ${result.preemptions}× (${Object.entries(
          result.preemptedBy,
        )
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([comm, count]) => `${comm} ${count}`)
          .join(
            ", ",
          )}) | others ${result.othersMs.toFixed(0)} ms (${result.othersTop.join(", ")}), idle ${result.idleMs.toFixed(0)} ms of ${(2 * result.decodeMs).toFixed(0)} | load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
  }
} finally {
  for (const server of servers) await server.stop();
}
const dir = join(root, "bench", "results");
mkdirSync(dir, { recursive: true });
const out = join(dir, `engine-sched-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), modelPath, threads, tokens, serveOptions, results }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
