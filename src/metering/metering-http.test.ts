import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { createPlatform, type Platform } from "../platform.ts";
import { createApp } from "../server/app.ts";
import { parseSseData } from "../server/testing/parse-sse.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import { openStore, type Store } from "../store/database.ts";
import { sharedSqliteWriter } from "../store/sqlite-writer.ts";
import { createMeteringServices, type MeteringServices } from "./services.ts";

// One real server: synthetic model through llama.cpp, SQLite store, metering, audit and metrics on.
let platform: Platform;
let store: Store;
let services: MeteringServices;
let server: RunningServer;
let databasePath: string;
/** Usage rows and audit records commit up to `laterMs` after the answer (they are journaled before it). */
const committed = () => sharedSqliteWriter(store.sqlite!).flushed();

beforeAll(async () => {
  const config = configSchema.parse({
    engine: { threads: 1, gpu: false },
    models: {
      entries: [{ id: "tiny", path: await syntheticTestModel("tiny"), aliases: ["default"] }],
      contextSize: 1024,
      parallel: 2,
    },
    metering: { local: { eurPerHour: 3.6, powerWatts: 100, country: "FR" } },
    audit: { checkpointEvery: 4, checkpointSeconds: 3600 },
  });
  platform = await createPlatform(config);
  const dataDir = mkdtempSync(join(tmpdir(), "bastion-metering-"));
  databasePath = join(dataDir, "bastion.db");
  store = await openStore({ sqlitePath: databasePath });
  services = createMeteringServices({ config, store, dataDir, models: platform.registry });
  server = await startServer(createApp({ registry: platform.registry, metering: services }));
});

afterAll(async () => {
  await server?.close();
  await services?.close();
  await store?.destroy();
  await platform?.dispose();
});

const chat = (body: Record<string, unknown>) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "default",
      messages: [{ role: "user", content: "Bonjour Marie" }],
      max_tokens: 6,
      ...body,
    }),
  });

describe("metering through the HTTP API", () => {
  it("meters a JSON answer: the evidence carries its cost, and its usage row and audit record exist", async () => {
    const response = await chat({});
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      id: string;
      usage: { prompt_tokens: number; completion_tokens: number };
      bastion: { usage: Record<string, number> };
    };
    expect(body.bastion.usage.cost_eur).toBeGreaterThan(0);
    expect(body.bastion.usage.energy_wh).toBeGreaterThan(0);
    expect(body.bastion.usage.co2e_g).toBeGreaterThan(0);
    await committed();
    const rows = await store.db.selectFrom("usage_records").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model: "tiny",
      backend: "tiny",
      backend_kind: "local",
      status: "ok",
      input_tokens: body.usage.prompt_tokens,
      output_tokens: body.usage.completion_tokens,
    });
    expect(rows[0]!.cost_eur).toBeCloseTo(body.bastion.usage.cost_eur!, 12);
    expect(rows[0]!.busy_ms).toBeGreaterThan(0);
    const audit = await services.audit!.list();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.record).toMatchObject({ type: "request", model: "tiny", status: "ok" });
    expect(JSON.stringify(audit)).not.toContain("Marie");
  });

  it("journals the records of a streamed answer before its final chunk goes out, then commits them", async () => {
    await committed();
    const before = (await store.db.selectFrom("usage_records").select("id").execute()).length;
    const response = await chat({ stream: true, stream_options: { include_usage: true } });
    const requestId = response.headers.get("x-request-id")!;
    const events = parseSseData(await response.text());
    // Right after the answer, before anything is flushed: the usage row and the audit record are
    // in the writer's journal (what a killed process's successor replays), or already committed.
    const journal = readFileSync(`${databasePath}.writes.jsonl`, "utf8");
    const rowNow = await store.db
      .selectFrom("usage_records")
      .select("id")
      .where("id", "=", requestId)
      .execute();
    if (rowNow.length === 0) {
      const entries = journal
        .split("\n")
        .filter((line) => line.includes(JSON.stringify(requestId).slice(1, -1)))
        .map((line) => JSON.parse(line)[1] as string);
      expect(entries).toEqual(
        expect.arrayContaining([
          "../metering/usage-writes#prepareUsageInserts",
          "../audit/audit-writes#prepareAuditAppends",
        ]),
      );
    }
    const last = events
      .filter((event) => event !== "[DONE]")
      .map((event) => JSON.parse(event))
      .at(-1);
    expect(last.bastion.usage.cost_eur).toBeGreaterThan(0);
    await committed();
    expect((await store.db.selectFrom("usage_records").select("id").execute()).length).toBe(before + 1);
  });

  it("reports usage grouped by day and model, refuses an unknown group, and verifies the audit chain", async () => {
    await Promise.all([chat({}), chat({})]);
    const report = await fetch(`${server.url}/admin/v1/usage?group_by=day,model`);
    const { data } = (await report.json()) as { data: Array<Record<string, unknown>> };
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ day: new Date().toISOString().slice(0, 10), model: "tiny", requests: 4 });
    const bad = await fetch(`${server.url}/admin/v1/usage?group_by=colour`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(
      /use any of day, tenant/,
    );
    const verify = await fetch(`${server.url}/admin/v1/audit/verify`, { method: "POST" });
    expect(await verify.json()).toMatchObject({ ok: true, records: 4 });
    const key = await fetch(`${server.url}/admin/v1/audit/public-key`);
    expect(await key.text()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it("serves Prometheus metrics labelled by model, backend and status, never by key or user", async () => {
    const response = await fetch(`${server.url}/metrics`);
    const text = await response.text();
    expect(text).toMatch(/bastion_requests_total\{model="tiny",backend="tiny",status="ok"\} 4/);
    expect(text).toMatch(
      /bastion_time_to_first_token_seconds_bucket\{le="[^"]+",model="tiny",backend="tiny"\}/,
    );
    expect(text).toMatch(/bastion_model_loaded\{model="tiny"\} 1/);
    expect(text).toMatch(/bastion_cost_eur_total\{model="tiny",backend="tiny"\} [0-9.e-]+/);
    expect(text).toMatch(/bastion_busy_sequences\{model="tiny"\} 0/);
    const labels = new Set([...text.matchAll(/[{,]([a-z_]+)="/g)].map((match) => match[1]));
    for (const forbidden of ["key", "key_id", "user", "user_id", "tenant", "tenant_id"])
      expect(labels.has(forbidden)).toBe(false);
  });

  it("meters and audits each of two requests that send the same X-Request-Id", async () => {
    const requestId = `reused-${Math.random().toString(36).slice(2)}`;
    const send = () =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": requestId },
        body: JSON.stringify({
          model: "default",
          messages: [{ role: "user", content: "Bonjour" }],
          max_tokens: 4,
        }),
      });
    const answers = await Promise.all([send(), send()]);
    const third = await send();
    for (const answer of [...answers, third]) {
      expect(answer.status).toBe(200);
      expect(answer.headers.get("x-request-id")).toBe(requestId);
      await answer.text();
    }
    await committed();
    const rows = await store.db
      .selectFrom("usage_records")
      .select(["id", "status"])
      .where("id", ">=", requestId)
      .where("id", "<", `${requestId}$`)
      .orderBy("id")
      .execute();
    expect(rows.map((row) => row.id)).toEqual([requestId, `${requestId}#2`, `${requestId}#3`]);
    const audit = (await services.audit!.list({ limit: 1000 })).filter(
      (entry) => entry.record.request_id === requestId,
    );
    expect(audit).toHaveLength(3);
  });
});
