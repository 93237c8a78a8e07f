import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SyntheticModelError } from "./errors.ts";
import { readGgufInfo } from "./gguf/reader.ts";
import { syntheticPresets } from "./presets.ts";
import { qwen2TensorShapes } from "./qwen2-tensors.ts";
import { ensureSyntheticModel, synthesizeModel } from "./synth.ts";
import { testCacheDir, testFixturesDir } from "./testing.ts";

const scratch = join(testFixturesDir, `synth-${process.pid}`);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function parameterCount(preset: keyof typeof syntheticPresets): number {
  return qwen2TensorShapes(syntheticPresets[preset]).reduce(
    (sum, t) => sum + t.dims.reduce((a, b) => a * b, 1),
    0,
  );
}

describe("synthetic model presets", () => {
  it("have the parameter counts of the real checkpoints", () => {
    expect(parameterCount("deepseek-r1-distill-qwen-1.5b")).toBe(1_777_088_000);
    expect(parameterCount("qwen2.5-0.5b")).toBe(494_032_768);
  });

  it("lay out 1.5B's tensors as llama.cpp's qwen2 loader expects (ggml order, untied, biased)", () => {
    const shapes = new Map(
      qwen2TensorShapes(syntheticPresets["deepseek-r1-distill-qwen-1.5b"]).map((t) => [t.name, t.dims]),
    );
    expect(shapes.get("token_embd.weight")).toEqual([1536, 151936]);
    expect(shapes.get("output.weight")).toEqual([1536, 151936]);
    expect(shapes.get("blk.27.attn_q.weight")).toEqual([1536, 1536]);
    expect(shapes.get("blk.27.attn_k.weight")).toEqual([1536, 256]);
    expect(shapes.get("blk.27.attn_v.bias")).toEqual([256]);
    expect(shapes.get("blk.27.ffn_gate.weight")).toEqual([1536, 8960]);
    expect(shapes.get("blk.27.ffn_down.weight")).toEqual([8960, 1536]);
    expect(shapes.has("blk.28.attn_norm.weight")).toBe(false);
  });
});

describe("synthesizeModel", () => {
  it("writes the same bytes for the same arguments, and others for another seed", async () => {
    const options = { preset: "tiny", type: "q8_0", cacheDir: testCacheDir } as const;
    const first = await synthesizeModel({ ...options, out: join(scratch, "a.gguf") });
    const second = await synthesizeModel({ ...options, out: join(scratch, "b.gguf") });
    const reseeded = await synthesizeModel({ ...options, seed: 2, out: join(scratch, "c.gguf") });
    expect(second.sha256).toBe(first.sha256);
    expect(reseeded.sha256).not.toBe(first.sha256);
    expect(first.bytes).toBe((await stat(first.path)).size);
    expect(first.bytes).toBeLessThan(20 << 20);
  });

  it("writes tiny with llama.cpp's metadata, F32 norms and quantised matrices", async () => {
    const { path } = await synthesizeModel({
      preset: "tiny",
      type: "q4_0",
      out: join(scratch, "tiny.gguf"),
      cacheDir: testCacheDir,
    });
    const info = await readGgufInfo(path);
    const value = (key: string) => info.metadata.get(key)?.value;
    expect(value("general.architecture")).toBe("qwen2");
    expect(value("general.file_type")).toBe(2);
    expect(value("general.quantization_version")).toBe(2);
    expect(value("bastion.synthetic")).toBe(true);
    expect(value("bastion.preset")).toBe("tiny");
    expect(value("qwen2.embedding_length")).toBe(64);
    expect(value("qwen2.block_count")).toBe(2);
    expect(value("qwen2.attention.head_count_kv")).toBe(2);
    expect(value("qwen2.context_length")).toBe(4096);
    expect(value("tokenizer.ggml.pre")).toBe("deepseek-r1-qwen");
    expect(info.tensors.map((t) => t.name)).not.toContain("output.weight"); // tied
    const byName = new Map(info.tensors.map((t) => [t.name, t]));
    expect(byName.get("token_embd.weight")).toMatchObject({ dims: [64, 151936], type: 2 });
    expect(byName.get("blk.1.ffn_down.weight")).toMatchObject({ dims: [128, 64], type: 2 });
    expect(byName.get("blk.0.attn_q.bias")).toMatchObject({ dims: [64], type: 0 });
    expect(byName.get("output_norm.weight")).toMatchObject({ dims: [64], type: 0 });
  });

  it("names the valid presets when asked for an unknown one", async () => {
    const attempt = synthesizeModel({ preset: "llama-9000", out: join(scratch, "x.gguf") });
    await expect(attempt).rejects.toBeInstanceOf(SyntheticModelError);
    await expect(attempt).rejects.toThrow(/tiny, scripted/);
  });
});

describe("ensureSyntheticModel", () => {
  it("writes once, then reuses the file", async () => {
    const first = await ensureSyntheticModel({ preset: "tiny", dir: scratch, cacheDir: testCacheDir });
    const again = await ensureSyntheticModel({ preset: "tiny", dir: scratch, cacheDir: testCacheDir });
    expect(first.created).toBe(true);
    expect(again).toEqual({ ...first, created: false });
    expect(first.path).toMatch(/tiny\.q8_0\.s1\.v1\..*\.gguf$/);
  });

  it("survives concurrent callers", async () => {
    const dir = join(scratch, "concurrent");
    const results = await Promise.all(
      [1, 2, 3].map(() => ensureSyntheticModel({ preset: "scripted", dir, cacheDir: testCacheDir })),
    );
    expect(new Set(results.map((r) => r.path)).size).toBe(1);
    const info = await readGgufInfo(results[0]?.path as string);
    expect(info.metadata.get("bastion.preset")?.value).toBe("scripted");
  });
});
