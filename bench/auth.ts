/**
 * `node bench/auth.ts` (`npm run bench:auth`): the cost of API keys, rate limits and budgets on the
 * request path. One scripted backend (no llama.cpp, so the overhead is not hidden behind
 * generation), served three ways side by side in one run: no auth; auth (a key hash-checked on
 * every request, its row read from SQLite or from the authenticator's cache of at most 1 s, which
 * `PRAGMA data_version` and in-process changes invalidate); auth with limits (requests/min,
 * tokens/min, concurrency in memory counters, and a monthly hard budget reserved and settled in
 * SQLite per request, through the shared group commit). Rounds alternate so that machine drift hits each alike. Prints requests/s and latency
 * p50/p99 with the ratio to "off", and writes JSON to bench/results/.
 *
 * Options: --concurrency (8), --requests per round (400), --rounds (4), --delay-ms per answer (0:
 * worst case, pure overhead; 20 resembles a short answer from a fast remote model).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDefaultTenant } from "../src/auth/bootstrap.ts";
import { createAuth } from "../src/auth/index.ts";
import { configSchema } from "../src/config/config.ts";
import { anonymousPrincipal } from "../src/core/principal.ts";
import { createApp } from "../src/server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../src/server/testing/scripted-backend.ts";
import { startServer } from "../src/server/testing/start-server.ts";
import { openStore } from "../src/store/database.ts";
import { quantile, runAlternating, scriptedAnswer, scriptedLoadFlags } from "./support/scripted-load.ts";

const { concurrency, perRound, rounds, delayMs } = scriptedLoadFlags();
const script = scriptedAnswer(delayMs);

const backend = {
  ...createScriptedBackend({ id: "m", script }),
  pricing: { inputPerMillion: 1, outputPerMillion: 2 },
};
const registry = createStaticRegistry([backend]);
const dataDir = mkdtempSync(join(tmpdir(), "bastion-bench-auth-"));
const store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
await ensureDefaultTenant(store);
const auth = createAuth({ store, config: configSchema.parse({}), env: {} });
const plainKey = (await auth.admin.createKey(anonymousPrincipal, { name: "plain" })).secret;
const limitedKey = (
  await auth.admin.createKey(anonymousPrincipal, {
    name: "limited",
    limits: { rpm: 1e9, tpm: 1e12, concurrency: 1000, budget_hard_eur: 1e6 },
  })
).secret;
const servers = {
  off: await startServer(createApp({ registry, web: false })),
  auth: await startServer(createApp({ registry, auth, web: false })),
  limits: await startServer(createApp({ registry, auth, web: false })),
};
type Name = keyof typeof servers;

const totals = await runAlternating(
  {
    off: { url: servers.off.url, key: undefined },
    auth: { url: servers.auth.url, key: plainKey },
    limits: { url: servers.limits.url, key: limitedKey },
  },
  { concurrency, perRound, rounds },
);
const names = Object.keys(totals) as Name[];
const labels: Record<Name, string> = {
  off: "no auth",
  auth: "key check",
  limits: "key + rpm/tpm/conc + budget",
};
const rows = names.map((name) => {
  const { seconds, latencies } = totals[name];
  return {
    configuration: labels[name],
    requestsPerSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
});
const base = rows[0]!.requestsPerSecond;
console.log(
  `concurrency ${concurrency}, ${rounds} rounds x ${perRound} requests, scripted backend, answer delay ${delayMs} ms`,
);
console.log("configuration                  req/s    ratio   p50 ms   p99 ms");
for (const row of rows)
  console.log(
    `${row.configuration.padEnd(29)} ${row.requestsPerSecond.toFixed(0).padStart(6)}  ${(row.requestsPerSecond / base).toFixed(3).padStart(6)}  ${row.p50Ms.toFixed(2).padStart(7)}  ${row.p99Ms.toFixed(2).padStart(7)}`,
  );
const resultsDir = join(import.meta.dirname, "results");
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `auth-${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ concurrency, rounds, perRound, delayMs, rows, ratios: rows.map((row) => row.requestsPerSecond / base) }, null, 2)}\n`,
);
console.log(`written ${file}`);
await Promise.all(Object.values(servers).map((server) => server.close()));
await store.destroy();
rmSync(dataDir, { recursive: true, force: true });
