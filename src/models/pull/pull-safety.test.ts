import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFileServer, type Validator } from "../../../test/fake-hf/file-server.ts";
import { makeGguf } from "../../../test/fake-hf/gguf-fixture.ts";
import { type FakeHf, startFakeHf } from "../../../test/fake-hf/server.ts";
import { listModels, readManifest } from "../store.ts";
import { ModelPullError } from "./errors.ts";
import { type PullOptions, pullModel } from "./pull.ts";
import { acquirePullLock } from "./pull-lock.ts";

// Issue 6, section 2: pulls that cannot hurt the machine.
const weights = (name: string) =>
  makeGguf({
    metadata: { "general.architecture": "qwen2", "general.name": name, "qwen2.context_length": 4096 },
    tensors: [{ name: "token_embd.weight", dims: [16, 8] }],
    padBytes: 200_000,
  });
const original = weights("original");
const cleanups: (() => Promise<void>)[] = [];
let modelsDir: string;

beforeEach(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "bastion-pull-safety-"));
  modelsDir = join(dataDir, "models");
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function hub(): Promise<FakeHf> {
  const fake = await startFakeHf({
    repos: [{ id: "acme/Tiny-GGUF", files: [{ path: "Tiny-Q4_K_M.gguf", content: original }] }],
  });
  cleanups.push(() => fake.close());
  return fake;
}

const opts = (endpoint: string, extra: Partial<PullOptions> = {}): PullOptions => ({
  endpoint,
  modelsDir,
  env: {},
  retryDelayMs: 5,
  ...extra,
});

async function pullError(ref: string, options: PullOptions): Promise<ModelPullError> {
  const error = await pullModel(ref, options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ModelPullError)) throw new Error(`expected a ModelPullError, got ${String(error)}`);
  return error;
}

describe("store paths never leave the store", () => {
  it.each([
    ["https://h/m/..%2F..%2Ftmp%2Fx.gguf", /path separator/],
    ["https://h/m/..%5C..%5Cx.gguf", /path separator/],
    ["https://h/m/x%00.gguf", /NUL/],
    ["https://h/m/..gguf", /"\.\."/],
    ["https://h/m/model.bin", /must name a \.gguf file/],
    ["https://h/m/", /is empty/],
  ])("refuses %s before any request", async (url, why) => {
    const error = await pullError(url, opts("http://127.0.0.1:9"));
    expect(error.reason).toBe("invalid_ref");
    expect(error.message).toMatch(why);
    expect(existsSync(join(modelsDir, "..", "tmp"))).toBe(false);
  });
});

describe("--force", () => {
  it("keeps the old model until the new one is verified; a failed pull leaves it intact", async () => {
    const fake = await hub();
    const first = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts(fake.url));
    const manifest = await readManifest(first.dir);
    fake.setFault("Tiny-Q4_K_M.gguf", { corrupt: true, times: 10 });
    const failed = await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts(fake.url, { force: true }));
    expect(failed.reason).toBe("checksum_mismatch");
    expect(await readFile(first.path)).toEqual(original);
    expect(await readManifest(first.dir)).toEqual(manifest);
    expect((await listModels({ modelsDir })).map((model) => model.id)).toEqual(["tiny-q4_k_m"]);

    fake.setFault("Tiny-Q4_K_M.gguf", undefined);
    const again = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts(fake.url, { force: true }));
    expect(again.downloaded).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect(await readFile(again.path)).toEqual(original);
    // Nothing of the swap is left beside the model.
    expect(await (await import("node:fs/promises")).readdir(modelsDir)).toEqual(["tiny-q4_k_m"]);
  });
});

describe("one pull per model at a time", () => {
  it("refuses a second pull of the same id with a clear message, and takes over a stale lock", async () => {
    const fake = await hub();
    await mkdir(modelsDir, { recursive: true });
    const held = await acquirePullLock(modelsDir, "tiny-q4_k_m");
    const busy = await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts(fake.url));
    expect(busy.reason).toBe("busy");
    expect(busy.code).toBe("conflict");
    expect(busy.message).toMatch(
      new RegExp(`Another pull of "tiny-q4_k_m" is running \\(process ${process.pid}\\)`),
    );
    await held.release();

    // A lock whose process has exited does not block anyone.
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = child.pid!;
    await new Promise((resolve) => child.once("exit", resolve));
    await writeFile(join(modelsDir, ".tiny-q4_k_m.lock"), String(deadPid));
    const pulled = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts(fake.url));
    expect(pulled.downloaded).toBe(true);
    expect(existsSync(join(modelsDir, ".tiny-q4_k_m.lock"))).toBe(false);
  });
});

describe("URL downloads resume only against a strong validator", () => {
  const cases: Array<[Validator, "resumes" | "restarts", string | undefined]> = [
    ["etag", "resumes", "etag"],
    ["last-modified", "resumes", "last-modified"],
    ["weak-etag", "restarts", undefined],
    ["none", "restarts", undefined],
  ];
  it.each(cases)("with %s it %s", async (validator, outcome) => {
    const server = await startFileServer({ files: { "/w/model.gguf": original }, validator });
    cleanups.push(() => server.close());
    server.dropNextAfter(60_000);
    const url = `${server.url}/w/model.gguf`;
    const first = await pullError(url, opts("http://127.0.0.1:9", { retries: 0, stallTimeoutMs: 1500 }));
    expect(first.reason).toBe("interrupted");
    const result = await pullModel(url, opts("http://127.0.0.1:9"));
    expect(await readFile(result.path)).toEqual(original);
    const second = server.requests.at(-1)!;
    if (outcome === "resumes") {
      expect(second.range).toBe("bytes=60000-");
      expect(second.ifRange).toBeDefined();
      expect(second.status).toBe(206);
    } else {
      expect(second.range).toBeUndefined();
      expect(second.status).toBe(200);
    }
  });
});
