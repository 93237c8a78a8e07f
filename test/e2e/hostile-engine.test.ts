import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostileBodyLimit, hostileCases } from "../hostile/cases.ts";
import { type HostileRun, runHostileCases } from "../hostile/run-hostile-cases.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

// The same hostile cases the wire-layer test sends, now against llama.cpp on a synthetic model:
// the engine's own checks (context overflow, grammars from odd schemas) must hold up too.
let server: TestServer;
let run: HostileRun;

beforeAll(async () => {
  server = await startTestServer({
    models: [{ id: "tiny", preset: "tiny", parallel: 2 }],
    maxBodyBytes: hostileBodyLimit,
  });
  run = await runHostileCases(server.baseUrl, { validModel: "tiny" });
});

afterAll(async () => {
  await server?.close();
});

describe("hostile requests against the real engine", () => {
  it.each(hostileCases.map((hostile) => hostile.name))("%s", (name) => {
    expect(run.results.find((entry) => entry.name === name)?.problems).toEqual([]);
  });

  it("still serves a normal request afterwards", () => {
    expect(run.followUpStatus).toBe(200);
  });
});
