import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../test/fake-upstream/server.ts";
import { configSchema } from "../config/config.ts";
import type { RequestObserver } from "../core/request-record.ts";
import { createGatewayFromConfig } from "../gateway/create-from-config.ts";
import type { Gateway } from "../gateway/gateway.ts";
import { createApp } from "../server/app.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import { openStore, type Store } from "../store/database.ts";
import { createMeteringServices, type MeteringServices } from "./services.ts";

// The real gateway (policy engine, routing) in front of a fake US provider, metered as `bastion serve` wires it.
let us: FakeUpstream;
let gateway: Gateway;
let store: Store;
let services: MeteringServices;
let server: RunningServer;

beforeAll(async () => {
  us = await startFakeUpstream({ name: "us" });
  const config = configSchema.parse({
    backends: {
      us: {
        baseUrl: us.baseUrl,
        jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
        pricing: { inputPerMillion: 4, outputPerMillion: 8 },
      },
    },
    routes: { "us-only": { candidates: ["us/echo"] } },
    gateway: { healthIntervalSeconds: 0 },
  });
  let refusals: RequestObserver | undefined;
  const local = { list: async () => [], get: () => undefined, readiness: () => ({ ready: true }) };
  gateway = createGatewayFromConfig({
    config,
    local,
    observers: [{ onCompleted: (record) => refusals?.onCompleted(record) }],
  });
  store = await openStore({ sqlitePath: ":memory:" });
  services = createMeteringServices({
    config,
    store,
    dataDir: mkdtempSync(join(tmpdir(), "bastion-gateway-metering-")),
    models: gateway.registry,
    backends: gateway,
  });
  refusals = services.refusals;
  server = await startServer(
    createApp({
      registry: gateway.registry,
      chat: services.observe(gateway),
      metering: services,
      web: false,
    }),
  );
});

afterAll(async () => {
  await server?.close();
  await services?.close();
  await gateway?.dispose();
  await store?.destroy();
  await us?.close();
});

const chat = (content: string) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "us-only", messages: [{ role: "user", content }] }),
  });

describe("metering behind the gateway", () => {
  it("prices a remote answer from the backend's table and records its place", async () => {
    const response = await chat("Bonjour, quelle heure est-il ?");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const rows = await store.db.selectFrom("usage_records").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      backend: "us/echo",
      backend_kind: "remote",
      country: "US",
      zone: "other",
    });
    expect(rows[0]!.cost_eur).toBeCloseTo(
      (body.usage.prompt_tokens * 4 + body.usage.completion_tokens * 8) / 1e6,
      12,
    );
  });

  it("records a policy block once, with the detector counts and without the detected value", async () => {
    const response = await chat("Our deploy key is AKIAIOSFODNN7EXAMPLE, keep it safe.");
    expect(response.status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 100)); // a refusal is recorded after the answer
    const blocked = await store.db
      .selectFrom("usage_records")
      .selectAll()
      .where("status", "=", "blocked")
      .execute();
    expect(blocked).toHaveLength(1);
    // The policy kept the secret local; with no local candidate the request was refused.
    expect(blocked[0]!.policy_action).toBe("keep-local");
    expect(
      Object.values(JSON.parse(blocked[0]!.detections) as Record<string, number>).some((count) => count > 0),
    ).toBe(true);
    const audit = await services.audit!.list();
    expect(audit.filter((entry) => entry.record.status === "blocked")).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(await services.verifyAudit()).toMatchObject({ ok: true, records: 2 });
  });
});
