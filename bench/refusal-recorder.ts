/**
 * `node bench/refusal-recorder.ts`: what recording refusals before the error response
 * (src/server/record-refusals.ts) costs. In process (`app.request`, no socket), so that only the
 * middleware's own work is measured:
 * - the common path: a 200 answer through the middleware (nothing recorded) against the same app
 *   without it;
 * - the refusal path: a 401 with its usage row and audit record committed (SQLite, WAL, metering
 *   as `bastion serve` builds it) against the same 401 unrecorded.
 * Rounds alternate so that machine drift hits both sides. Prints CPU microseconds per request and
 * the ratio, and writes JSON to bench/results/.
 *
 * Options: --requests per round (20000 for 200s, a tenth of it for 401s), --rounds (5).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { configSchema } from "../src/config/config.ts";
import { createMeteringServices } from "../src/metering/services.ts";
import { recordRefusals } from "../src/server/record-refusals.ts";
import type { ServerEnv } from "../src/server/server-env.ts";
import { openStore } from "../src/store/database.ts";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" } },
});
const perRound = Number(values.requests);
const rounds = Number(values.rounds);

const dataDir = mkdtempSync(join(tmpdir(), "bastion-bench-refusals-"));
const store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
const metering = createMeteringServices({ config: configSchema.parse({}), store, dataDir });

function app(withRecorder: boolean, status: 200 | 401): Hono<ServerEnv> {
  const hono = new Hono<ServerEnv>();
  hono.use(requestId());
  if (withRecorder) hono.use("/v1/*", recordRefusals(metering.recorder));
  hono.get("/v1/thing", (c) =>
    status === 200 ? c.json({ ok: true }) : c.json({ error: { code: "unauthorized" } }, 401),
  );
  return hono;
}

const cases = {
  "200 without": { app: app(false, 200), requests: perRound },
  "200 with": { app: app(true, 200), requests: perRound },
  "401 unrecorded": { app: app(false, 401), requests: Math.ceil(perRound / 10) },
  "401 recorded": { app: app(true, 401), requests: Math.ceil(perRound / 10) },
};
type Name = keyof typeof cases;
const samples: Record<Name, number[]> = {
  "200 without": [],
  "200 with": [],
  "401 unrecorded": [],
  "401 recorded": [],
};

/** CPU microseconds per request of one round (8 requests in flight, as the other benches). */
async function round(name: Name): Promise<number> {
  const { app: target, requests } = cases[name];
  let next = 0;
  const start = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < requests) {
        const response = await target.request("/v1/thing");
        await response.arrayBuffer();
      }
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / requests;
}

const load = loadavg()[0]!;
// One warm-up round each, not counted.
for (const name of Object.keys(cases) as Name[]) await round(name);
for (let index = 0; index < rounds; index++) {
  const order = Object.keys(cases) as Name[];
  for (const name of index % 2 === 0 ? order : order.toReversed()) samples[name].push(await round(name));
}
const median = (list: number[]) => {
  const sorted = list.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const rows = (Object.keys(cases) as Name[]).map((name) => ({
  configuration: name,
  cpuMicrosecondsPerRequest: median(samples[name]),
  rounds: samples[name],
}));
const ratio = (a: Name, b: Name) =>
  rows.find((row) => row.configuration === a)!.cpuMicrosecondsPerRequest /
  rows.find((row) => row.configuration === b)!.cpuMicrosecondsPerRequest;
console.log(`${rounds} rounds x ${perRound} requests (401s: a tenth), load average ${load.toFixed(1)}`);
console.log("configuration     CPU us/request (median)");
for (const row of rows)
  console.log(`${row.configuration.padEnd(18)}${row.cpuMicrosecondsPerRequest.toFixed(1).padStart(8)}`);
console.log(`200 with/without: ${ratio("200 with", "200 without").toFixed(2)}x`);
console.log(`401 recorded/unrecorded: ${ratio("401 recorded", "401 unrecorded").toFixed(2)}x`);
const verify = await metering.verifyAudit();
console.log(`audit chain after the run: ${verify.ok ? "verifies" : "FAILED"} (${verify.records} records)`);

mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
const file = join(
  import.meta.dirname,
  "results",
  `refusal-recorder-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      benchmark: "refusal-recorder",
      date: new Date().toISOString(),
      loadAverage: load,
      rounds,
      perRound,
      rows,
      ratios: {
        okWithOverWithout: ratio("200 with", "200 without"),
        refusalRecordedOverUnrecorded: ratio("401 recorded", "401 unrecorded"),
      },
      auditVerifies: verify.ok,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${file}`);
await metering.close();
await store.destroy();
rmSync(dataDir, { recursive: true, force: true });
