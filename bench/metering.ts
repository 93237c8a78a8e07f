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
import { configSchema } from "../src/config/config.ts";
import { createMeteringServices } from "../src/metering/services.ts";
import { createApp } from "../src/server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../src/server/testing/scripted-backend.ts";
import { startServer } from "../src/server/testing/start-server.ts";
import { openStore } from "../src/store/database.ts";
import { quantile, runAlternating, scriptedAnswer, scriptedLoadFlags } from "./support/scripted-load.ts";

const { concurrency, perRound, rounds, delayMs } = scriptedLoadFlags();
const script = scriptedAnswer(delayMs, true);

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

const totals = await runAlternating(
  { off: { url: servers.off.url }, on: { url: servers.on.url } },
  { concurrency, perRound, rounds },
);
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
