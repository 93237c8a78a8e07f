import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeGguf } from "../../../test/fake-hf/gguf-fixture.ts";
import { type FakeHf, type FakeHfRepo, startFakeHf } from "../../../test/fake-hf/server.ts";
import { listModels, modelInfo } from "../store.ts";
import { ModelPullError } from "./errors.ts";
import { type PullOptions, pullModel } from "./pull.ts";

const model = (name: string, pad = 300_000) =>
  makeGguf({
    metadata: {
      "general.architecture": "qwen2",
      "general.name": name,
      "general.file_type": 15,
      "qwen2.context_length": 4096,
    },
    tensors: [{ name: "token_embd.weight", dims: [16, 8] }],
    padBytes: pad,
  });

const single = model("single");
const q8 = model("q8", 1000);
const part1 = model("part1", 200_000);
const part2 = Buffer.alloc(150_000, 7);
const repos: FakeHfRepo[] = [
  {
    id: "acme/Tiny-GGUF",
    license: "apache-2.0",
    baseModel: "acme-labs/Tiny",
    files: [
      { path: "README.md", content: Buffer.from("# Tiny"), lfs: false },
      { path: "Tiny-Q4_K_M.gguf", content: single },
      { path: "Tiny-Q8_0.gguf", content: q8 },
      { path: "Tiny-Q6_K-00001-of-00002.gguf", content: part1 },
      { path: "Tiny-Q6_K-00002-of-00002.gguf", content: part2 },
    ],
  },
  {
    id: "acme/Gated-GGUF",
    gated: true,
    files: [{ path: "gated-q4_k_m.gguf", content: model("gated", 1000) }],
  },
];

let fake: FakeHf;
let dataDir: string;
let modelsDir: string;

beforeEach(async () => {
  fake = await startFakeHf({ repos, token: "hf_good" });
  dataDir = await mkdtemp(join(tmpdir(), "bastion-pull-"));
  modelsDir = join(dataDir, "models");
});

afterEach(async () => {
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
});

const opts = (extra: Partial<PullOptions> = {}): PullOptions => ({
  endpoint: fake.url,
  modelsDir,
  env: {},
  retryDelayMs: 5,
  ...extra,
});

async function pullError(ref: string, options: PullOptions): Promise<ModelPullError> {
  const error = await pullModel(ref, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelPullError);
  return error as ModelPullError;
}

describe("pullModel", () => {
  it("downloads a file, verifies it against the hub's sha256 and writes the manifest last", async () => {
    const progress: number[] = [];
    const result = await pullModel(
      "hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf",
      opts({ onProgress: (p) => progress.push(p.downloadedBytes) }),
    );
    expect(result.id).toBe("tiny-q4_k_m");
    expect(result.downloaded).toBe(true);
    expect(await readFile(result.path)).toEqual(single);
    expect(result.manifest.files).toEqual([
      expect.objectContaining({
        name: "Tiny-Q4_K_M.gguf",
        size: single.length,
        sha256: fake.sha256(single),
        verified: true,
      }),
    ]);
    expect(result.manifest.licence).toEqual({ id: "apache-2.0" });
    expect(result.manifest.publisher).toEqual({ name: "acme-labs" });
    expect((await readdir(result.dir)).sort()).toEqual(["Tiny-Q4_K_M.gguf", "manifest.json"]);
    expect(progress.at(-1)).toBe(single.length);
    expect((await listModels({ modelsDir })).map((m) => m.id)).toEqual(["tiny-q4_k_m"]);
    expect((await modelInfo("tiny-q4_k_m", { modelsDir })).quantisation).toBe("Q4_K_M");

    const again = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts());
    expect(again.downloaded).toBe(false);
  });

  it("resumes an interrupted download with a Range request, fetching less than twice the file", async () => {
    fake.setFault("Tiny-Q4_K_M.gguf", { dropAfterBytes: 100_000 });
    const first = await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts({ retries: 0 }));
    expect(first.reason).toBe("interrupted");
    expect(first.message).toMatch(/run the same pull again to resume/i);
    const dir = join(modelsDir, "tiny-q4_k_m");
    expect(existsSync(join(dir, "Tiny-Q4_K_M.gguf.partial"))).toBe(true);
    expect(existsSync(join(dir, "Tiny-Q4_K_M.gguf"))).toBe(false);
    expect(existsSync(join(dir, "manifest.json"))).toBe(false);
    expect(await listModels({ modelsDir })).toEqual([]);

    const result = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts());
    expect(await readFile(result.path)).toEqual(single);
    const gets = fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("Tiny-Q4_K_M.gguf"));
    expect(gets).toHaveLength(2);
    expect(gets[0]?.range).toBeUndefined();
    expect(gets[1]?.range).toBe("bytes=100000-");
    expect(gets[1]?.ifRange).toBe(`"${fake.sha256(single)}"`);
    expect(gets[1]?.status).toBe(206);
    expect(fake.bytesServed("Tiny-Q4_K_M.gguf")).toBeLessThan(2 * single.length);
    expect(existsSync(join(dir, "Tiny-Q4_K_M.gguf.partial"))).toBe(false);
  });

  it("retries a dropped connection by itself, resuming", async () => {
    fake.setFault("Tiny-Q4_K_M.gguf", { dropAfterBytes: 50_000, times: 2 });
    const result = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts());
    expect(await readFile(result.path)).toEqual(single);
    const ranges = fake.requests
      .filter((r) => r.method === "GET" && r.path.endsWith("Tiny-Q4_K_M.gguf"))
      .map((r) => r.range);
    expect(ranges).toEqual([undefined, "bytes=50000-", "bytes=100000-"]);
  });

  it("starts over when the server ignores Range", async () => {
    fake.setFault("Tiny-Q4_K_M.gguf", { dropAfterBytes: 100_000 });
    await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts({ retries: 0 }));
    fake.setFault("Tiny-Q4_K_M.gguf", { ignoreRange: true });
    const result = await pullModel("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts());
    expect(await readFile(result.path)).toEqual(single);
    const last = fake.requests
      .filter((r) => r.method === "GET" && r.path.endsWith("Tiny-Q4_K_M.gguf"))
      .at(-1);
    expect(last?.range).toBe("bytes=100000-");
    expect(last?.status).toBe(200);
  });

  it("rejects a checksum mismatch and leaves no model, no file and no partial behind", async () => {
    fake.setFault("Tiny-Q4_K_M.gguf", { corrupt: true });
    const error = await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", opts());
    expect(error.reason).toBe("checksum_mismatch");
    expect(error.message).toContain(fake.sha256(single));
    expect(error.message).toMatch(/deleted/);
    expect(existsSync(join(modelsDir, "tiny-q4_k_m"))).toBe(false);
    expect(await listModels({ modelsDir })).toEqual([]);
  });

  it("reports a missing file (404) with close matches", async () => {
    const error = await pullError("hf:acme/Tiny-GGUF/Tiny-Q4_K_S.gguf", opts());
    expect(error.reason).toBe("not_found");
    expect(error.status).toBe(404);
    expect(error.message).toMatch(/Tiny-Q4_K_S\.gguf was not found/);
    expect(error.message).toContain("Close matches in acme/Tiny-GGUF: Tiny-Q4_K_M.gguf");
  });

  it("reports a missing repository (the hub answers 401 RepoNotFound) as not found", async () => {
    const error = await pullError("hf:acme/Nope-GGUF:Q4_K_M", opts());
    expect(error.reason).toBe("not_found");
    expect(error.message).toMatch(/Repository acme\/Nope-GGUF was not found.*if it is private, set HF_TOKEN/);
  });

  it("explains a gated repository: 401 without a token, 403 with a wrong one, success with the right one", async () => {
    const ref = "hf:acme/Gated-GGUF/gated-q4_k_m.gguf";
    const anonymous = await pullError(ref, opts());
    expect(anonymous.reason).toBe("gated");
    expect(anonymous.status).toBe(403);
    expect(anonymous.message).toContain(`accept the licence at ${fake.url}/acme/Gated-GGUF`);
    expect(anonymous.message).toContain("set HF_TOKEN");
    const wrong = await pullError(ref, opts({ token: "hf_bad" }));
    expect(wrong.reason).toBe("gated");
    expect(wrong.message).toMatch(/HTTP 403.*HF_TOKEN was refused/);
    const ok = await pullModel(ref, opts({ env: { HF_TOKEN: "hf_good" } }));
    expect(ok.manifest.files[0]?.verified).toBe(true);
  });

  it("picks a file by quantisation from the repository listing, case-insensitively", async () => {
    const result = await pullModel("hf:acme/Tiny-GGUF:q8_0", opts());
    expect(result.id).toBe("tiny-q8_0");
    expect(await readFile(result.path)).toEqual(q8);
    // The listing is paged by the fake (2 per page): all pages were read.
    expect(
      fake.requests.filter((r) => r.path.startsWith("/api/models/acme/Tiny-GGUF/tree/main")),
    ).toHaveLength(3);
  });

  it("lists the available quantisations when none matches", async () => {
    const error = await pullError("hf:acme/Tiny-GGUF:Q5_K_M", opts());
    expect(error.reason).toBe("no_matching_quant");
    expect(error.message).toContain("Available quantisations: Q4_K_M, Q6_K, Q8_0");
  });

  it("downloads every part of a split set into one model folder", async () => {
    const byQuant = await pullModel("hf:acme/Tiny-GGUF:Q6_K", opts());
    expect(byQuant.id).toBe("tiny-q6_k");
    expect(byQuant.manifest.files.map((f) => f.name)).toEqual([
      "Tiny-Q6_K-00001-of-00002.gguf",
      "Tiny-Q6_K-00002-of-00002.gguf",
    ]);
    expect(await readFile(join(byQuant.dir, "Tiny-Q6_K-00002-of-00002.gguf"))).toEqual(part2);
    expect(byQuant.path).toBe(join(byQuant.dir, "Tiny-Q6_K-00001-of-00002.gguf"));

    const byFile = await pullModel(
      "hf:acme/Tiny-GGUF/Tiny-Q6_K-00001-of-00002.gguf",
      opts({ id: "split-by-file" }),
    );
    expect(byFile.manifest.files.map((f) => f.sha256)).toEqual([fake.sha256(part1), fake.sha256(part2)]);
  });

  it("honours HF_ENDPOINT, sends the token to the hub only, not to the CDN it redirects to", async () => {
    await fake.close();
    fake = await startFakeHf({ repos, token: "hf_good", redirectToCdn: true });
    const result = await pullModel("hf:acme/Gated-GGUF/gated-q4_k_m.gguf", {
      modelsDir,
      env: { HF_ENDPOINT: fake.url, HF_TOKEN: "hf_good" },
    });
    expect(result.manifest.repo?.endpoint).toBe(fake.url);
    const hubGets = fake.requests.filter((r) => r.origin === "hub" && r.path.includes("/resolve/"));
    const cdnGets = fake.requests.filter((r) => r.origin === "cdn");
    expect(hubGets.length).toBeGreaterThan(0);
    expect(hubGets.every((r) => r.authorization === "Bearer hf_good")).toBe(true);
    expect(cdnGets.length).toBe(1);
    expect(cdnGets[0]?.authorization).toBeUndefined();
  });

  it("says there is no network when the hub cannot be reached", async () => {
    const url = fake.url;
    await fake.close();
    const error = await pullError("hf:acme/Tiny-GGUF:Q4_K_M", opts({ endpoint: url }));
    expect(error.reason).toBe("offline");
    expect(error.message).toMatch(/no network.*--model.*HF_ENDPOINT/);
    fake = await startFakeHf({ repos });
  });

  it("refuses to start when the disk is too small, saying how much is needed", async () => {
    const error = await pullError(
      "hf:acme/Tiny-GGUF/Tiny-Q4_K_M.gguf",
      opts({ freeBytes: async () => 1000 }),
    );
    expect(error.reason).toBe("disk_full");
    expect(error.message).toMatch(/301 kB needed, 1\.0 kB free/);
    expect(await listModels({ modelsDir })).toEqual([]);
  });

  it("pulls a plain URL (no published checksum: recorded, not verified)", async () => {
    const result = await pullModel(
      `${fake.cdnUrl}/blobs/${fake.sha256(q8)}/Tiny-Q8_0.gguf`,
      opts({ id: "by-url" }),
    );
    expect(result.manifest.files[0]).toEqual(
      expect.objectContaining({ sha256: fake.sha256(q8), verified: false }),
    );
  });

  it("treats a URL into the hub's resolve path like an hf: reference (verified)", async () => {
    const result = await pullModel(`${fake.url}/acme/Tiny-GGUF/resolve/main/Tiny-Q8_0.gguf`, opts());
    expect(result.manifest.files[0]?.verified).toBe(true);
    expect(result.manifest.repo?.id).toBe("acme/Tiny-GGUF");
  });
});
