/**
 * `npm run bench:gateway`: Bastion's gateway in front of a fast mock OpenAI-compatible upstream,
 * with detectors and the residency policy on, side by side in one run with the mock called directly
 * and with Portkey's open-source gateway (`@portkey-ai/gateway`, started locally and pointed at the
 * mock through its custom-host header; as published for JSON answers, and with its streams fixed by
 * a preload for SSE, since the published build fails every stream). Reports requests/s and latency p50/p99 at concurrency 8,
 * and the latency each gateway adds over the direct call. Prints a table, writes JSON to
 * bench/results/.
 *
 * Options: --requests N per target and round (default 3000), --rounds N (default 3, targets
 * alternate to even out drift), --concurrency N (default 8), --soak (a warm-up of at least 80,000 requests
 * until RSS is steady, then 200,000 requests through Bastion, RSS sampled every 10,000: after warm-up it must stay within ±10%), --mode json|stream
 * (repeatable; default both), --variant NAME
 * (repeatable; Bastion set-ups to measure, see `bastionVariants`; default gateway and control-plane).
 *
 * Every server runs in its own process (the mock, each Bastion variant, Portkey), so that the load
 * generator here does not share an event loop with what it measures.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";

const { values: flags } = parseArgs({
  options: {
    role: { type: "string" },
    variant: { type: "string", multiple: true },
    "mock-url": { type: "string" },
    requests: { type: "string", default: "3000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "8" },
    soak: { type: "boolean", default: false },
    mode: { type: "string", multiple: true },
  },
});

const root = join(import.meta.dirname, "..");

/** What the clients send: a short chat with personal data in it, so that detectors and pseudonymisation work. */
const prompt = {
  messages: [
    { role: "system", content: "You are a helpful assistant for a European bank. Answer briefly." },
    {
      role: "user",
      content:
        "Bonjour, je suis Claire Martin. Pouvez-vous confirmer le virement vers FR76 3000 6000 0112 3456 7890 189 et écrire à claire.martin@example.fr ? Mon numéro est +33 6 12 34 56 78. Merci de résumer les frais de tenue de compte pour 2025.",
    },
  ],
  max_tokens: 32,
};

// ---------------------------------------------------------------- child: the mock upstream

function runMock(): void {
  const answer = "Bien reçu : le virement est confirmé et les frais 2025 sont de 2 € par mois.";
  const usage = { prompt_tokens: 64, completion_tokens: 20, total_tokens: 84 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      let body: { stream?: boolean; model?: string; stream_options?: { include_usage?: boolean } } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        // A health probe or junk: answered as a plain completion.
      }
      if (request.url?.endsWith("/models")) {
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"object":"list","data":[]}');
        return;
      }
      const model = body.model ?? "mock";
      if (body.stream === true) {
        response.writeHead(200, { "content-type": "text/event-stream" });
        const base = { id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model };
        let out = "";
        for (const piece of [answer.slice(0, 30), answer.slice(30)])
          out += `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\n\n`;
        out += `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`;
        // As OpenAI: the usage chunk (with empty choices) only when the client asked for it.
        if (body.stream_options?.include_usage === true)
          out += `data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`;
        response.end(`${out}data: [DONE]\n\n`);
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          id: "chatcmpl-mock",
          object: "chat.completion",
          created: 1,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
          usage,
        }),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

// ---------------------------------------------------------------- child: Bastion

/**
 * Bastion set-ups to measure. `gateway` is the gateway with detectors and the eu-strict policy on:
 * the mock is a US provider, so every request is inspected, pseudonymised and restored. The
 * control plane can add a variant here (auth, limits, metering and audit on) that builds its app
 * the way `bastion serve` does.
 */
export const bastionVariants: Record<
  string,
  (mockBaseUrl: string) => Promise<{
    fetch: (request: Request) => Response | Promise<Response>;
    /** Headers the load generator must send (a variant with auth hands out its key here). */
    headers?: Record<string, string>;
  }>
> = {
  async gateway(mockBaseUrl) {
    const { configSchema } = await import("../src/config/config.ts");
    const { createGatewayFromConfig } = await import("../src/gateway/create-from-config.ts");
    const { createApp } = await import("../src/server/app.ts");
    const config = configSchema.parse({
      backends: {
        mock: {
          baseUrl: mockBaseUrl,
          jurisdiction: { country: "US", zone: "other", operator: "Mock AI Inc.", extraterritorial: true },
          maxConcurrent: 64,
        },
      },
      routes: { bench: { candidates: ["mock/bench"] } },
      gateway: { healthIntervalSeconds: 0 },
    });
    // No local model: this measures the gateway, not llama.cpp.
    const local = {
      list: async () => [],
      get: () => undefined,
      readiness: () => ({ ready: false, reason: "no local model" }),
    };
    const gateway = createGatewayFromConfig({ config, local });
    return createApp({ registry: gateway.registry, chat: gateway, web: false });
  },
  /**
   * Diagnostic: the same HTTP app answering from a scripted in-process backend (no policy, no
   * upstream), i.e. what Bastion's HTTP layer costs by itself.
   */
  async "wire-only"() {
    const { createApp } = await import("../src/server/app.ts");
    const { createScriptedBackend, createStaticRegistry } = await import(
      "../src/server/testing/scripted-backend.ts"
    );
    const backend = createScriptedBackend({
      id: "bench",
      script: async function* () {
        yield {
          type: "text-delta",
          text: "Bien reçu : le virement est confirmé et les frais 2025 sont de 2 € par mois.",
        };
        yield {
          type: "finish",
          finishReason: "stop",
          usage: { promptTokens: 64, completionTokens: 20, reasoningTokens: 0, cachedPromptTokens: 0 },
        };
      },
    });
    return createApp({ registry: createStaticRegistry([backend]), web: false });
  },
  /**
   * The same gateway as `bastion serve` runs it with the control plane on: every request
   * authenticated (a key looked up in SQLite), limited (requests/min, tokens/min, concurrency and a
   * monthly hard budget reserved and settled in SQLite, all set high enough never to refuse), metered
   * (usage row), audited (hash-chained record, signed checkpoints) and counted in the metrics.
   */
  async "control-plane"(mockBaseUrl) {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { configSchema } = await import("../src/config/config.ts");
    const { createGatewayFromConfig } = await import("../src/gateway/create-from-config.ts");
    const { createApp } = await import("../src/server/app.ts");
    const { openStore } = await import("../src/store/database.ts");
    const { createAuth } = await import("../src/auth/index.ts");
    const { ensureDefaultTenant } = await import("../src/auth/bootstrap.ts");
    const { createMeteringServices } = await import("../src/metering/services.ts");
    const high = {
      rpm: 10_000_000,
      tpm: 1_000_000_000_000,
      concurrency: 1000,
      budget_hard_eur: 1_000_000_000,
    };
    const config = configSchema.parse({
      backends: {
        mock: {
          baseUrl: mockBaseUrl,
          jurisdiction: { country: "US", zone: "other", operator: "Mock AI Inc.", extraterritorial: true },
          maxConcurrent: 64,
          pricing: { inputPerMillion: 2.5, outputPerMillion: 10 },
        },
      },
      routes: { bench: { candidates: ["mock/bench"] } },
      gateway: { healthIntervalSeconds: 0 },
      limits: { key: high, tenant: high },
    });
    const local = {
      list: async () => [],
      get: () => undefined,
      readiness: () => ({ ready: false, reason: "no local model" }),
    };
    const gateway = createGatewayFromConfig({ config, local });
    const dataDir = mkdtempSync(join(tmpdir(), "bastion-bench-control-"));
    const store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
    const auth = createAuth({ store, config, env: {} });
    await ensureDefaultTenant(store);
    const { anonymousPrincipal } = await import("../src/core/principal.ts");
    // A stored key with its own limits and budget, as clients get them from the admin API: the
    // middleware looks it up, limits it and reserves its budget like any production request.
    const key = await auth.admin.createKey(anonymousPrincipal, { name: "bench", limits: high });
    const metering = createMeteringServices({
      config,
      store,
      dataDir,
      models: gateway.registry,
      backends: gateway,
    });
    auth.useCostModel(metering.meter);
    metering.attachAdmin(auth.admin);
    const app = createApp({
      registry: gateway.registry,
      chat: metering.observe(gateway),
      auth,
      metering,
      web: false,
    });
    return { fetch: app.fetch, headers: { authorization: `Bearer ${key.secret}` } };
  },
};

async function runBastion(variant: string, mockBaseUrl: string): Promise<void> {
  const build = bastionVariants[variant];
  if (build === undefined)
    throw new Error(`unknown variant ${variant}; known: ${Object.keys(bastionVariants).join(", ")}`);
  const app = await build(mockBaseUrl);
  const { createAdaptorServer } = await import("@hono/node-server");
  const server = createAdaptorServer({ fetch: app.fetch });
  server.listen(0, "127.0.0.1", () =>
    process.send?.({ port: (server.address() as AddressInfo).port, headers: app.headers ?? {} }),
  );
  process.on("message", (message) => {
    if (message === "rss") process.send?.({ rss: process.memoryUsage().rss });
    // A clean exit, so that `--cpu-prof` on this process writes its profile.
    if (message === "exit") process.exit(0);
  });
}

// ---------------------------------------------------------------- parent: load and report

function startChild(
  args: string[],
): Promise<{ child: ChildProcess; port: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    // BENCH_CPU_PROF=<dir> profiles the Bastion processes (`--cpu-prof`, a .cpuprofile per process on exit).
    const profileDir = process.env.BENCH_CPU_PROF;
    const execArgv =
      profileDir !== undefined && profileDir !== "" && args.includes("--role=bastion")
        ? [...process.execArgv, "--cpu-prof", `--cpu-prof-dir=${profileDir}`]
        : process.execArgv;
    const child = fork(import.meta.filename, args, {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv,
    });
    child.once("message", (message) => {
      const { port, headers } = message as { port: number; headers?: Record<string, string> };
      resolve({ child, port, headers: headers ?? {} });
    });
    child.once("exit", (code) => reject(new Error(`child ${args.join(" ")} exited with ${code}`)));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts Portkey's gateway. As published (1.15), it bundles @hono/node-server 1.19, whose light
 * Response keeps an upstream fetch Response's immutable Headers when Portkey re-wraps a stream:
 * every streamed request fails with "TypeError: immutable" (Node 20 and 24). `fixedStreams` preloads
 * a hook that points it at the tree's node-server v2, which makes its streams work; JSON answers are
 * measured against Portkey as published.
 */
async function startPortkey(fixedStreams: boolean): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const script = join(root, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");
  const preload = join(root, "bench", "support", "portkey-node-server-v2.mjs");
  const args = [...(fixedStreams ? ["--import", preload] : []), script, `--port=${port}`, "--headless"];
  const child = spawn(process.execPath, args, {
    stdio: "ignore",
    env: { ...process.env, NODE_ENV: "production" },
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      if (response.ok) return { child, port };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill();
  throw new Error("Portkey's gateway did not start within 30 s");
}

interface Target {
  name: string;
  origin: string;
  headers: Record<string, string>;
  model: string;
  /** The process that serves it, whose CPU time is charged to it. */
  pid: number;
  /** The answers it is measured with (default: both). */
  modes?: ReadonlyArray<"json" | "stream">;
}

/**
 * CPU milliseconds (user + system) a process has used, from /proc (Linux). On a busy machine this
 * is far steadier than throughput or latency, which depend on what else the cores run.
 */
function cpuMsOf(pid: number, mainThread = false): number {
  try {
    // The main thread's own line (its task id is the pid): what bounds a Node server's throughput,
    // since its helper threads (the SQLite writer, libuv's pool, GC) run beside it.
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime) in clock ticks, usually 100 per second.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Sample {
  latenciesMs: number[];
  /** CPU time the serving process used during the sample. */
  cpuMs: number;
  /** CPU time of its main thread (the event loop) alone. */
  mainCpuMs: number;
  /** Streams only: time to the first content chunk. */
  firstTokenMs: number[];
  elapsedMs: number;
  errors: number;
}

async function load(target: Target, requests: number, concurrency: number, stream = false): Promise<Sample> {
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify({ ...prompt, model: target.model, stream });
  const headers = { "content-type": "application/json", ...target.headers };
  const latenciesMs: number[] = [];
  const firstTokenMs: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const cpuBefore = cpuMsOf(target.pid);
  const mainCpuBefore = cpuMsOf(target.pid, true);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        const t0 = performance.now();
        const response = await pool.request({ path: "/v1/chat/completions", method: "POST", headers, body });
        let text = "";
        let first: number | undefined;
        for await (const chunk of response.body) {
          text += chunk.toString();
          if (stream && first === undefined && text.includes('"content"')) first = performance.now() - t0;
        }
        if (first !== undefined) firstTokenMs.push(first);
        const complete = text.includes("virement") && (!stream || text.includes("[DONE]"));
        if (response.statusCode !== 200 || !complete) errors++;
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  await pool.close();
  const cpuMs = cpuMsOf(target.pid) - cpuBefore;
  const mainCpuMs = cpuMsOf(target.pid, true) - mainCpuBefore;
  return { latenciesMs, firstTokenMs, cpuMs, mainCpuMs, elapsedMs, errors };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

async function rssOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("message", (message) => resolve((message as { rss: number }).rss));
    child.send("rss");
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const requests = Number(flags.requests);
  const rounds = Number(flags.rounds);
  const concurrency = Number(flags.concurrency);
  // The soak measures one Bastion, the first variant named.
  const variants = flags.variant ?? (flags.soak ? ["gateway"] : ["gateway", "control-plane"]);
  const children: ChildProcess[] = [];
  const bastionsStarted = new Set<ChildProcess>();
  try {
    const mock = await startChild(["--role=mock"]);
    children.push(mock.child);
    const mockOrigin = `http://127.0.0.1:${mock.port}`;
    const targets: Target[] = [
      { name: "direct (mock)", origin: mockOrigin, headers: {}, model: "bench", pid: mock.child.pid! },
    ];
    const bastions = new Map<string, ChildProcess>();
    for (const variant of variants) {
      const bastion = await startChild([
        "--role=bastion",
        `--variant=${variant}`,
        `--mock-url=${mockOrigin}/v1`,
      ]);
      children.push(bastion.child);
      bastionsStarted.add(bastion.child);
      bastions.set(variant, bastion.child);
      targets.push({
        name: `bastion ${variant}`,
        origin: `http://127.0.0.1:${bastion.port}`,
        headers: bastion.headers,
        model: "bench",
        pid: bastion.child.pid!,
      });
    }
    if (!flags.soak) {
      // Portkey as published for JSON answers; with its streams fixed (see startPortkey) for SSE.
      for (const fixedStreams of [false, true]) {
        const portkey = await startPortkey(fixedStreams);
        children.push(portkey.child);
        targets.push({
          name: fixedStreams ? "portkey (streams fixed)" : "portkey",
          origin: `http://127.0.0.1:${portkey.port}`,
          headers: {
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": `${mockOrigin}/v1`,
            authorization: "Bearer unused",
          },
          model: "bench",
          pid: portkey.child.pid!,
          modes: fixedStreams ? ["stream"] : ["json"],
        });
      }
    }

    if (flags.soak) {
      const [variant, child] = [...bastions.entries()][0]!;
      const target = targets.find((candidate) => candidate.name === `bastion ${variant}`)!;
      // The warm-up (JIT, pools, and V8 growing its heap to its working size) lasts at least 80,000
      // requests and until RSS is steady: the last three samples (30,000 requests) within 2% of each
      // other, at most 200,000. How long V8 takes to size its heap depends on the host's speed
      // (~70,000 requests on the Xeon, ~110,000 on a faster EPYC), so a fixed count would compare
      // with a point on the way up. Then 200,000 requests are measured.
      const step = 10_000;
      const measured = 200_000;
      const samples: Array<{ requests: number; rssBytes: number; requestsPerSecond: number }> = [];
      let errors = 0;
      let warmup: number | undefined;
      const steady = () => {
        const last = samples.slice(-3).map((sample) => sample.rssBytes);
        return last.length === 3 && Math.max(...last) / Math.min(...last) - 1 <= 0.02;
      };
      for (let done = 0; warmup === undefined || done < warmup + measured; done += step) {
        const sample = await load(target, step, concurrency);
        errors += sample.errors;
        samples.push({
          requests: done + step,
          rssBytes: await rssOf(child),
          requestsPerSecond: step / (sample.elapsedMs / 1000),
        });
        console.log(
          `${done + step} requests, RSS ${fmt(samples.at(-1)!.rssBytes / 1024 ** 2, 1)} MiB, ${fmt(samples.at(-1)!.requestsPerSecond, 0)} req/s`,
        );
        if (warmup === undefined && done + step >= 80_000 && (steady() || done + step >= 200_000)) {
          warmup = done + step;
          console.log(`warm-up ends at ${warmup} requests; measuring ${measured} more`);
        }
      }
      const total = warmup + measured;
      // After the warm-up, RSS is compared with its value at the warm-up's end.
      const after = samples.slice(warmup / step - 1);
      const reference = after[0]!.rssBytes;
      const drift = Math.max(...after.map((sample) => Math.abs(sample.rssBytes / reference - 1)));
      const verdict = `RSS over the ${fmt((total - warmup) / 1000, 0)}k requests after a ${fmt(warmup / 1000, 0)}k warm-up within ${fmt(drift * 100, 1)}% of ${fmt(reference / 1024 ** 2, 1)} MiB (target ±10%), ${errors} errors`;
      console.log(`\n${verdict}`);
      write(
        "gateway-soak",
        { variant, concurrency, warmup, total, samples, driftFraction: drift, errors, verdict },
        started,
      );
      return;
    }

    // Warm-up, then alternating rounds so that a drifting machine hurts every target alike. Each
    // target is measured with JSON answers and with SSE streams (latency to the stream's end).
    // --mode json|stream (repeatable) measures only those answers (profiling one of them).
    const modes = (["json", "stream"] as const).filter(
      (mode) => flags.mode === undefined || flags.mode.includes(mode),
    );
    const measures = (target: Target, mode: "json" | "stream") => target.modes?.includes(mode) ?? true;
    for (const target of targets)
      for (const mode of modes.filter((candidate) => measures(target, candidate)))
        await load(target, Math.min(500, requests), concurrency, mode === "stream");
    const results = new Map<string, Sample[]>();
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        for (const target of targets.filter((candidate) => measures(candidate, mode))) {
          const key = `${target.name} ${mode}`;
          results.set(key, [
            ...(results.get(key) ?? []),
            await load(target, requests, concurrency, mode === "stream"),
          ]);
        }
      }
    }
    const pairs = modes.flatMap((mode) =>
      targets.filter((target) => measures(target, mode)).map((target) => ({ target, mode })),
    );
    const rows = pairs.map(({ target, mode }) => {
      const samples = results.get(`${target.name} ${mode}`)!;
      const latencies = samples.flatMap((sample) => sample.latenciesMs).sort((a, b) => a - b);
      const elapsed = samples.reduce((sum, sample) => sum + sample.elapsedMs, 0);
      return {
        name: target.name,
        mode,
        requests: latencies.length,
        errors: samples.reduce((sum, sample) => sum + sample.errors, 0),
        requestsPerSecond: latencies.length / (elapsed / 1000),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        cpuMsPerRequest: samples.reduce((sum, sample) => sum + sample.cpuMs, 0) / latencies.length,
        mainCpuMsPerRequest: samples.reduce((sum, sample) => sum + sample.mainCpuMs, 0) / latencies.length,
        firstTokenP50Ms: percentile(
          samples.flatMap((sample) => sample.firstTokenMs).sort((a, b) => a - b),
          50,
        ),
      };
    });
    const isDirect = (row: { name: string }) => row.name === "direct (mock)";
    const directOf = (mode: string) => rows.find((row) => row.mode === mode && isDirect(row))!;
    const withAdded = rows.map((row) => ({
      ...row,
      addedP50Ms: row.p50Ms - directOf(row.mode).p50Ms,
      addedP99Ms: row.p99Ms - directOf(row.mode).p99Ms,
      addedFirstTokenP50Ms: row.firstTokenP50Ms - directOf(row.mode).firstTokenP50Ms,
    }));
    const header = [
      "target",
      "mode",
      "req/s",
      "p50 ms",
      "p99 ms",
      "added p50 ms",
      "added p99 ms",
      "added TTFT p50 ms",
      "CPU ms/req",
      "main CPU ms/req",
      "errors",
    ];
    const lines = withAdded.map((row) => [
      row.name,
      row.mode,
      fmt(row.requestsPerSecond, 0),
      fmt(row.p50Ms),
      fmt(row.p99Ms),
      isDirect(row) ? "-" : fmt(row.addedP50Ms),
      isDirect(row) ? "-" : fmt(row.addedP99Ms),
      isDirect(row) || row.mode !== "stream" ? "-" : fmt(row.addedFirstTokenP50Ms),
      fmt(row.cpuMsPerRequest, 3),
      fmt(row.mainCpuMsPerRequest, 3),
      String(row.errors),
    ]);
    const widths = header.map((title, column) =>
      Math.max(title.length, ...lines.map((line) => line[column]!.length)),
    );
    const table = [header, ...lines].map((line) =>
      line.map((cell, column) => cell.padEnd(widths[column]!)).join("  "),
    );
    const summaries = withAdded
      .filter((row) => row.name.startsWith("bastion"))
      .map((row) => {
        const portkey = withAdded.find(
          (other) => other.name.startsWith("portkey") && other.mode === row.mode,
        )!;
        return {
          variant: row.name,
          mode: row.mode,
          // Portkey as published for JSON, with its streams fixed for SSE (see startPortkey).
          portkeyTarget: portkey.name,
          // Failed Portkey requests make a ratio meaningless.
          portkeyFailed: portkey.errors > 0,
          throughputOverPortkey: row.requestsPerSecond / portkey.requestsPerSecond,
          cpuPerRequestOverPortkey: row.cpuMsPerRequest / portkey.cpuMsPerRequest,
          addedP50OverPortkey: row.addedP50Ms / portkey.addedP50Ms,
        };
      });
    // Issue 8: the control plane (auth, limits, budgets, metering, audit) against the same
    // gateway without it, side by side in this run. Throughput is the target; CPU per request is
    // the steadier figure on a busy machine.
    const controlPlane = modes.flatMap((mode) => {
      const on = withAdded.find((row) => row.name === "bastion control-plane" && row.mode === mode);
      const off = withAdded.find((row) => row.name === "bastion gateway" && row.mode === mode);
      if (on === undefined || off === undefined) return [];
      return [
        {
          mode,
          throughputRatio: on.requestsPerSecond / off.requestsPerSecond,
          cpuPerRequestRatio: on.cpuMsPerRequest / off.cpuMsPerRequest,
          addedCpuMsPerRequest: on.cpuMsPerRequest - off.cpuMsPerRequest,
          mainCpuPerRequestRatio: on.mainCpuMsPerRequest / off.mainCpuMsPerRequest,
          addedMainCpuMsPerRequest: on.mainCpuMsPerRequest - off.mainCpuMsPerRequest,
          roundThroughputRatios: results
            .get(`bastion control-plane ${mode}`)!
            .map(
              (sample, index) =>
                sample.latenciesMs.length /
                sample.elapsedMs /
                (results.get(`bastion gateway ${mode}`)![index]!.latenciesMs.length /
                  results.get(`bastion gateway ${mode}`)![index]!.elapsedMs),
            ),
        },
      ];
    });
    const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
    console.log(
      `\nConcurrency ${concurrency}, ${rounds} rounds x ${requests} requests per target, ${machine}\n`,
    );
    console.log(table.join("\n"));
    for (const summary of summaries) {
      if (summary.portkeyFailed) {
        console.log(
          `\n${summary.variant} (${summary.mode}): no comparison, Portkey's requests failed in this mode`,
        );
        continue;
      }
      console.log(
        `\n${summary.variant} (${summary.mode}, against ${summary.portkeyTarget}): throughput ${fmt(summary.throughputOverPortkey)}x Portkey's (target >= 2), added p50 ${fmt(summary.addedP50OverPortkey)}x Portkey's (target <= 0.5), CPU per request ${fmt(summary.cpuPerRequestOverPortkey)}x Portkey's`,
      );
    }
    for (const ratio of controlPlane) {
      console.log(
        `\ncontrol plane on (${ratio.mode}): throughput ${fmt(ratio.throughputRatio)}x the gateway's without it (target >= 0.9; per round ${ratio.roundThroughputRatios.map((value) => fmt(value)).join(", ")}), CPU per request ${fmt(ratio.cpuPerRequestRatio)}x (+${fmt(ratio.addedCpuMsPerRequest, 3)} ms), main thread ${fmt(ratio.mainCpuPerRequestRatio)}x (+${fmt(ratio.addedMainCpuMsPerRequest, 3)} ms)`,
      );
    }
    write(
      "gateway",
      {
        machine,
        concurrency,
        rounds,
        requestsPerRound: requests,
        rows: withAdded,
        summaries,
        controlPlane,
        table,
      },
      started,
    );
  } finally {
    // Bastion exits by itself when asked, so that a `--cpu-prof` run writes its profile.
    for (const child of children) {
      if (child.connected && [...bastionsStarted].includes(child)) child.send("exit");
      else child.kill();
    }
  }
}

function write(name: string, data: Record<string, unknown>, started: number): void {
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = join(resultsDir, `${name}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), ...data }, null, 2)}\n`);
  console.log(`\nwrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
}

if (flags.role === "mock") runMock();
else if (flags.role === "bastion") await runBastion(flags.variant?.[0] ?? "gateway", flags["mock-url"]!);
else await main();
