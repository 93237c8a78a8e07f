import { type ChildProcess, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultCatalogEntry } from "../../src/models/catalog.ts";
import { syntheticTestModel } from "../../src/models/testing.ts";
import { type FakeHf, startFakeHf } from "../fake-hf/server.ts";
import { startFakeUpstream } from "../fake-upstream/server.ts";
import { freePort } from "../support/free-port.ts";

// `bastion serve` as a user starts it: a real process, a fresh data folder, no model configured.
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Puts the synthetic demo model where `bastion serve` keeps it in `dataDir`, as an earlier offline
 * start would have left it, for tests about something else than its creation: writing it (and
 * extracting its vocabulary) in a fresh data folder costs seconds of CPU, and "falls back to the
 * synthetic demo model" still checks that a first start does it.
 */
async function seedDemoModel(dataDir: string): Promise<void> {
  const tiny = await syntheticTestModel("tiny");
  const dir = join(dataDir, "cache", "synthetic");
  await mkdir(dir, { recursive: true });
  await copyFile(tiny, join(dir, basename(tiny)));
}

async function startServe(
  env: Record<string, string>,
  args: string[] = [],
  options: { seedDemoModel?: boolean } = {},
) {
  const dataDir = await mkdtemp(join(tmpdir(), "bastion-serve-"));
  if (options.seedDemoModel === true) await seedDemoModel(dataDir);
  const port = await freePort();
  let output = "";
  let logs = "";
  const child: ChildProcess = spawn(process.execPath, [bin, "serve", "--port", String(port), ...args], {
    env: { ...process.env, BASTION_DATA_DIR: dataDir, BASTION_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (data: Buffer) => {
    output += data.toString();
    logs += data.toString();
  });
  child.stderr?.on("data", (data: Buffer) => {
    output += data.toString();
  });
  cleanups.push(async () => {
    child.kill("SIGTERM");
    await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(null)));
    await rm(dataDir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 600 && child.exitCode === null; attempt++) {
    const ok = await fetch(`${url}/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) {
      // A fresh data folder gets a first admin key, saved where the README's quick start reads it.
      const key = (await readFile(join(dataDir, "admin-key"), "utf8")).trim();
      return { url, dataDir, key, output: () => output, logs: () => logs };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`serve did not become ready:\n${output}`);
}

interface ListedModel {
  id: string;
  aliases: string[];
  synthetic?: boolean;
  warning?: string;
  licence?: { id: string };
  publisher?: { name: string; country?: string };
  source?: string;
}

async function models(url: string, key: string): Promise<ListedModel[]> {
  const response = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  return ((await response.json()) as { data: ListedModel[] }).data;
}

describe("bastion serve with nothing configured", () => {
  it("pulls the catalog's default model into an empty store, with progress, and serves it", async () => {
    const entry = defaultCatalogEntry();
    const content = await readFile(await syntheticTestModel("tiny"));
    const hub: FakeHf = await startFakeHf({
      repos: [{ id: entry.repo, files: entry.files.map((file) => ({ path: file, content })) }],
    });
    cleanups.push(() => hub.close());
    const served = await startServe({ HF_ENDPOINT: hub.url });
    const list = await models(served.url, served.key);
    expect(list.map((model) => model.id)).toEqual([entry.name]);
    expect(list[0]!.aliases).toContain("default");
    // Provenance from the catalog travels with the model: licence, publisher and its country.
    expect(list[0]!.licence?.id).toBe(entry.licence.id);
    expect(list[0]!.publisher).toEqual({ name: entry.publisher.name, country: entry.publisher.country });
    expect(list[0]!.source).toBe(entry.name);
    expect(served.output()).toMatch(/pulling the default model/);
    expect(served.output()).toMatch(/100%|MB/);
    const chat = await fetch(`${served.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${served.key}` },
      body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
    });
    expect(chat.status).toBe(200);
    // The first admin key: shown once on stderr, in a file only its owner can read, never in the logs.
    expect(served.key).toMatch(/^bst_live_/);
    expect((await stat(join(served.dataDir, "admin-key"))).mode & 0o777).toBe(0o600);
    expect(served.output()).toContain(served.key);
    expect(served.logs()).not.toContain(served.key);
    expect(served.logs()).toMatch(/created the first admin key/);
    expect((await fetch(`${served.url}/v1/models`)).status).toBe(401);
  });

  it("falls back to the synthetic demo model when it cannot download, and says so", async () => {
    // A closed port stands in for "no network": the pull fails at once.
    const served = await startServe({ HF_ENDPOINT: `http://127.0.0.1:${await freePort()}` });
    const list = await models(served.url, served.key);
    expect(list).toHaveLength(1);
    expect(list[0]!.synthetic).toBe(true);
    expect(list[0]!.aliases).toContain("default");
    expect(list[0]!.warning).toMatch(/random weights/);
    expect(served.output()).toMatch(/could not download/);
    expect(served.output()).toMatch(/SYNTHETIC/);
  });
});

describe("bastion serve with remote backends", () => {
  it("logs what the gateway does (a policy block, with its reason and counts), never the value", async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const dir = await mkdtemp(join(tmpdir(), "bastion-serve-gateway-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, "bastion.yaml");
    await writeFile(
      config,
      `backends:\n  us:\n    baseUrl: ${upstream.baseUrl}\n    jurisdiction: { country: US, zone: other, operator: Fake US, extraterritorial: true }\n`,
    );
    const served = await startServe({ BASTION_CONFIG: config }, ["--offline"], { seedDemoModel: true });
    const secret = "AKIAIOSFODNN7EXAMPLE";
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${served.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "us/echo", messages: [{ role: "user", content: `key ${secret}` }] }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("x-bastion-policy-reason")).toBe("no_allowed_backend");
    expect(upstream.requests).toHaveLength(0);
    await expect.poll(() => served.logs()).toMatch(/request blocked by policy/);
    expect(served.logs()).toMatch(/"reason":"no_allowed_backend"/);
    expect(served.output()).not.toContain(secret);
  });
});

describe("bastion serve --no-auth", () => {
  it("is refused unless the server listens on loopback", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bastion-serve-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await seedDemoModel(dataDir);
    const child = spawn(
      process.execPath,
      [bin, "serve", "--no-auth", "--host", "0.0.0.0", "--port", "0", "--offline", "--no-store"],
      { env: { ...process.env, BASTION_DATA_DIR: dataDir }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.stderr?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).not.toBe(0);
    expect(output).toMatch(/Auth can be turned off only when listening on loopback/);
  });
});
