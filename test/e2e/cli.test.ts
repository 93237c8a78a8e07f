import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticTestModel, testCacheDir } from "../../src/models/testing.ts";
import { type FakeHf, startFakeHf } from "../fake-hf/server.ts";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
let dataDir: string;
let hub: FakeHf;

async function bastion(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, BASTION_DATA_DIR: dataDir, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const sha256 = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "bastion-cli-"));
  hub = await startFakeHf({
    repos: [
      {
        id: "acme/tiny-GGUF",
        license: "apache-2.0",
        files: [{ path: "tiny-Q8_0.gguf", content: await readFile(await syntheticTestModel("tiny")) }],
      },
    ],
  });
});

afterAll(async () => {
  await hub?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("the bastion CLI as a user runs it", () => {
  it("synth writes the same bytes for the same arguments", async () => {
    const first = join(dataDir, "a.gguf");
    const second = join(dataDir, "b.gguf");
    // The vocabulary the test fixtures extracted already: extracting it again (seconds of CPU) is
    // what a first `bastion serve` offline does, and serve-cli.test.ts checks that.
    const synth = (out: string) =>
      bastion(["synth", "--preset", "tiny", "--type", "q4_0", "--out", out, "--cache-dir", testCacheDir]);
    expect((await synth(first)).code).toBe(0);
    expect((await synth(second)).code).toBe(0);
    expect(await sha256(first)).toBe(await sha256(second));
  });

  it("synth names the valid presets when given an unknown one", async () => {
    const result = await bastion(["synth", "--preset", "gpt-5", "--out", join(dataDir, "x.gguf")]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/tiny/);
    expect(result.stderr).toMatch(/deepseek-r1-distill-qwen-1\.5b/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  });

  it("pulls by quantisation, lists with GGUF metadata, and removes", async () => {
    const pulled = await bastion(["pull", "hf:acme/tiny-GGUF:q8_0", "--quiet"], { HF_ENDPOINT: hub.url });
    expect(pulled.code).toBe(0);
    const id = pulled.stdout.trim();
    const listed = await bastion(["models", "--json", "--url", "http://127.0.0.1:9/v1"]);
    const rows = JSON.parse(listed.stdout) as {
      id: string;
      architecture: string;
      quantisation: string;
      template: string;
      licence: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id,
      architecture: "qwen2",
      quantisation: "Q8_0",
      template: "deepseek-r1",
    });
    expect((await bastion(["rm", id])).code).toBe(0);
    expect(
      JSON.parse((await bastion(["models", "--json", "--url", "http://127.0.0.1:9/v1"])).stdout),
    ).toEqual([]);
  });

  it("says what to do when a pull is refused", async () => {
    const result = await bastion(["pull", "hf:acme/missing-GGUF:q8_0", "--quiet"], { HF_ENDPOINT: hub.url });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/acme\/missing-GGUF/);
  });
});
