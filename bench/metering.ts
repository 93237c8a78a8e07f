/**
 * `node bench/metering.ts` (`npm run bench:metering`): the cost of metering, usage rows, the
 * hash-chained audit log and metrics on the request path. The same app serves a scripted backend
 * (no llama.cpp, so that the overhead is not hidden behind generation time) with everything off
 * and everything on (SQLite in a temp dir, WAL, one audit append and one usage insert per request,
 * committed before the final part leaves), side by side in one run; rounds alternate so that
 * machine drift hits both. Concurrency 8 by default. Prints requests/s and latency p50/p99 per
 * configuration with the ratio to "off", and writes JSON to bench/results/.
 *
 * Options: --concurrency (8), --requests per round (400), --rounds (4), --delay-ms per answer (0:
 * worst case, pure overhead; 20 resembles a short answer from a fast remote model).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configSchema } from "../src/config/config.ts";
import type { ChatStreamPart } from "../src/core/chat.ts";
import { createMeteringServices } from "../src/metering/services.ts";
import { createApp } from "../src/server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../src/server/testing/scripted-backend.ts";
import { startServer } from "../src/server/testing/start-server.ts";
import { openStore } from "../src/store/database.ts";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", default: "8" },
    requests: { type: "string", default: "400" },
    rounds: { type: "string", default: "4" },
    "delay-ms": { type: "string", default: "0" },
  },
});
const concurrency = Number(flags.concurrency);
const perRound = Number(flags.requests);
const rounds = Number(flags.rounds);
const delayMs = Number(flags["delay-ms"]);

async function* script(): AsyncIterable<ChatStreamPart> {
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  yield { type: "text-delta", text: "Bonjour" };
  yield {
    type: "finish",
    finishReason: "stop",
    usage: { promptTokens: 20, completionTokens: 8, reasoningTokens: 0, cachedPromptTokens: 0 },
    timings: { queueMs: 0, promptMs: 1, generationMs: Math.max(1, delayMs) },
  };
}

const backend = createScriptedBackend({ id: "m", script });
const registry = createStaticRegistry([backend]);
const dataDir = mkdtempSync(join(tmpdir(), "bastion-bench-metering-"));
const config = configSchema.parse({ models: { entries: [] } });
const store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
const metering = createMeteringServices({ config, store, dataDir, models: registry });
const servers = {
  off: await startServer(createApp({ registry })),
  on: await startServer(createApp({ registry, metering })),
};
type Name = keyof typeof servers;

async function round(name: Name): Promise<{ seconds: number; cpuMs: number; latencies: number[] }> {
  const url = `${servers[name].url}/v1/chat/completions`;
  const body = JSON.stringify({
    model: "m",
    messages: [{ role: "user", content: "Bonjour" }],
    max_tokens: 8,
  });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < perRound) {
        const t0 = performance.now();
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        if (response.status !== 200)
          throw new Error(`${name}: HTTP ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuMs: (used.user + used.system) / 1000,
    latencies,
  };
}

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

// Warm-up of both paths (JIT, connection pools, SQLite pages), not counted.
await round("off");
await round("on");
const totals: Record<Name, { seconds: number; cpuMs: number; latencies: number[] }> = {
  off: { seconds: 0, cpuMs: 0, latencies: [] },
  on: { seconds: 0, cpuMs: 0, latencies: [] },
};
for (let index = 0; index < rounds; index++) {
  for (const name of (index % 2 === 0 ? ["off", "on"] : ["on", "off"]) as Name[]) {
    const result = await round(name);
    totals[name].seconds += result.seconds;
    totals[name].cpuMs += result.cpuMs;
    totals[name].latencies.push(...result.latencies);
  }
}
const verify = await metering.verifyAudit();
const rows = (["off", "on"] as Name[]).map((name) => {
  const { seconds, cpuMs, latencies } = totals[name];
  return {
    configuration: name === "off" ? "metering+audit off" : "metering+audit+metrics on",
    requestsPerSecond: latencies.length / seconds,
    // CPU per request (client and server together, this one process): unlike req/s, it does not
    // move when other processes take the CPU away, so it is the steadier measure on a shared box.
    cpuMsPerRequest: cpuMs / latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
});
const base = rows[0]!.requestsPerSecond;
console.log(
  `concurrency ${concurrency}, ${rounds} rounds x ${perRound} requests, answer delay ${delayMs} ms`,
);
const baseCpu = rows[0]!.cpuMsPerRequest;
console.log("configuration                 req/s    ratio   p50 ms   p99 ms   CPU ms/req   CPU ratio");
for (const row of rows)
  console.log(
    `${row.configuration.padEnd(28)} ${row.requestsPerSecond.toFixed(0).padStart(6)}  ${(row.requestsPerSecond / base).toFixed(3).padStart(6)}  ${row.p50Ms.toFixed(2).padStart(7)}  ${row.p99Ms.toFixed(2).padStart(7)}  ${row.cpuMsPerRequest.toFixed(3).padStart(11)}  ${(baseCpu / row.cpuMsPerRequest).toFixed(3).padStart(10)}`,
  );
console.log(
  `audit chain after the run: ${verify.ok ? "verifies" : "BROKEN"}, ${verify.records} records, ${verify.checkpoints} checkpoints`,
);
const resultsDir = join(import.meta.dirname, "results");
mkdirSync(resultsDir, { recursive: true });
const file = join(
  resultsDir,
  `metering-${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}.json`,
);
writeFileSync(
  file,
  `${JSON.stringify({ concurrency, rounds, perRound, delayMs, rows, ratio: rows[1]!.requestsPerSecond / base, cpuRatio: baseCpu / rows[1]!.cpuMsPerRequest, audit: verify }, null, 2)}\n`,
);
console.log(`written ${file}`);
await Promise.all([servers.off.close(), servers.on.close()]);
await metering.close();
await store.destroy();
rmSync(dataDir, { recursive: true, force: true });
