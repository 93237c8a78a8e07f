import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../../src/server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../../src/server/testing/start-server.ts";
import { hostileBodyLimit, hostileCases } from "./cases.ts";
import { type HostileRun, runHostileCases } from "./run-hostile-cases.ts";

const backend = createScriptedBackend({ id: "test-model", embeddings: true });
let server: RunningServer;
let run: HostileRun;

beforeAll(async () => {
  server = await startServer(
    createApp({ registry: createStaticRegistry([backend]), maxBodyBytes: hostileBodyLimit }),
  );
  run = await runHostileCases(server.url, { validModel: "test-model" });
});

afterAll(async () => {
  await server.close();
});

describe("hostile requests against the wire layer", () => {
  it("has at least 30 cases with unique names", () => {
    expect(hostileCases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(hostileCases.map((hostile) => hostile.name)).size).toBe(hostileCases.length);
  });

  it.each(hostileCases.map((hostile) => hostile.name))("%s", (name) => {
    const result = run.results.find((entry) => entry.name === name);
    expect(result?.problems).toEqual([]);
  });

  it("still serves a normal request afterwards", () => {
    expect(run.followUpStatus).toBe(200);
  });

  it("left Object.prototype unpolluted", () => {
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("hands the backend well-formed text", () => {
    const texts = backend.calls.flatMap((call) => call.request.messages.map((message) => message.content));
    expect(texts).toContain("x\uFFFDy");
    for (const text of texts) expect(text.isWellFormed()).toBe(true);
  });
});
