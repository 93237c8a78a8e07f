import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type FakeHf, startFakeHf } from "../../test/fake-hf/server.ts";
import { defaultCatalogEntry } from "../models/catalog.ts";
import { pullModel } from "../models/pull/pull.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { fallsBackToDemo } from "./default-model.ts";

// The README's quick start promises: no network or an error answer from the hub -> the demo model;
// access refused, checksum mismatch, disk full -> the server stops with a message. These pull the
// default model for real against a fake hub and check the decision on the error each case raises.
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function pullDefault(endpoint: string, token?: string): Promise<unknown> {
  const modelsDir = await mkdtemp(join(tmpdir(), "bastion-first-run-"));
  cleanups.push(() => rm(modelsDir, { recursive: true, force: true }));
  const entry = defaultCatalogEntry();
  return pullModel(entry.name, {
    modelsDir,
    endpoint,
    ...(token === undefined ? {} : { token }),
    env: {},
    retries: 0,
    retryDelayMs: 1,
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function hub(options: { gated?: boolean } = {}): Promise<FakeHf> {
  const entry = defaultCatalogEntry();
  const content = await readFile(await syntheticTestModel("tiny"));
  const fake = await startFakeHf({
    repos: [
      {
        id: entry.repo,
        ...(options.gated === undefined ? {} : { gated: options.gated }),
        files: entry.files.map((path) => ({ path, content })),
      },
    ],
    token: "hf_good",
  });
  cleanups.push(() => fake.close());
  return fake;
}

describe("first run: when the demo model stands in for the default model", () => {
  it("falls back when there is no network", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const error = await pullDefault(`http://127.0.0.1:${port}`);
    expect((error as { reason: string }).reason).toBe("offline");
    expect(fallsBackToDemo(error)).toBe(true);
  });

  it("falls back when the hub answers with an error: the model is missing, or the hub fails", async () => {
    const empty = await startFakeHf({ repos: [] });
    cleanups.push(() => empty.close());
    const missing = await pullDefault(empty.url);
    expect((missing as { reason: string }).reason).toBe("not_found");
    expect(fallsBackToDemo(missing)).toBe(true);

    const failing = await hub();
    failing.setFault(defaultCatalogEntry().files[0]!, { status: 503, times: 10 });
    const outage = await pullDefault(failing.url);
    expect((outage as { reason: string }).reason).toBe("http_error");
    expect(fallsBackToDemo(outage)).toBe(true);
  });

  it("stops when access is refused or the download is corrupt", async () => {
    const gated = await hub({ gated: true });
    const refused = await pullDefault(gated.url);
    expect((refused as { reason: string }).reason).toBe("gated");
    expect(fallsBackToDemo(refused)).toBe(false);

    const corrupting = await hub();
    corrupting.setFault(defaultCatalogEntry().files[0]!, { corrupt: true, times: 10 });
    const corrupt = await pullDefault(corrupting.url);
    expect((corrupt as { reason: string }).reason).toBe("checksum_mismatch");
    expect(fallsBackToDemo(corrupt)).toBe(false);
    expect(fallsBackToDemo(new Error("disk I/O failure"))).toBe(false);
  });
});
