import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeGguf } from "../../test/fake-hf/gguf-fixture.ts";
import { chatTemplateFamily, quantisationName } from "../core/gguf-names.ts";
import {
  listModels,
  type ModelManifest,
  modelInfo,
  removeModel,
  resolveModel,
  writeJsonAtomic,
} from "./store.ts";

let modelsDir: string;

beforeEach(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), "bastion-store-"));
});
afterEach(async () => {
  await rm(modelsDir, { recursive: true, force: true });
});

async function addModel(
  id: string,
  files: Array<{ name: string; content: Buffer }>,
  extra: Partial<ModelManifest> = {},
) {
  const dir = join(modelsDir, id);
  await mkdir(dir, { recursive: true });
  for (const file of files) await writeFile(join(dir, file.name), file.content);
  const manifest: ModelManifest = {
    schemaVersion: 1,
    id,
    source: `hf:acme/${id}`,
    files: files.map((f) => ({
      name: f.name,
      size: f.content.length,
      sha256: "0".repeat(64),
      verified: true,
    })),
    licence: { id: "MIT" },
    downloadedAt: "2025-01-01T00:00:00.000Z",
    ...extra,
  };
  await writeJsonAtomic(join(dir, "manifest.json"), manifest);
  return dir;
}

const r1Template =
  "{% for m in messages %}<｜User｜>{{m.content}}<｜Assistant｜>{% endfor %}{% if '</think>' in c %}{% endif %}";

describe("store", () => {
  it("lists only folders with a manifest, and resolves ids and paths to the first GGUF", async () => {
    const part = (i: number) => ({
      name: `m-0000${i}-of-00002.gguf`,
      content: makeGguf({ tensors: [{ name: `t${i}`, dims: [4, 3] }] }),
    });
    const dir = await addModel("split", [part(1), part(2)]);
    await addModel("a-model", [{ name: "a.gguf", content: makeGguf() }]);
    await mkdir(join(modelsDir, "in-progress"));
    await writeFile(join(modelsDir, "in-progress", "x.gguf.partial"), "xx");

    const models = await listModels({ modelsDir });
    expect(models.map((m) => m.id)).toEqual(["a-model", "split"]);
    expect(models[1]?.files).toEqual([
      join(dir, "m-00001-of-00002.gguf"),
      join(dir, "m-00002-of-00002.gguf"),
    ]);
    expect(await resolveModel("split", { modelsDir })).toBe(join(dir, "m-00001-of-00002.gguf"));
    expect(await resolveModel(dir, { modelsDir })).toBe(join(dir, "m-00001-of-00002.gguf"));
    expect(await resolveModel(join(dir, "m-00002-of-00002.gguf"), { modelsDir })).toBe(
      join(dir, "m-00002-of-00002.gguf"),
    );
    await expect(resolveModel("in-progress", { modelsDir })).rejects.toThrow(
      /not in the store\. In the store: a-model, split\. Pull it/,
    );
    await expect(resolveModel("/nowhere/x.gguf", { modelsDir })).rejects.toThrow(/No GGUF file at/);
  });

  it("removes a model, and refuses ids that are paths", async () => {
    const dir = await addModel("gone", [{ name: "g.gguf", content: makeGguf() }]);
    await removeModel("gone", { modelsDir });
    expect(existsSync(dir)).toBe(false);
    await expect(removeModel("gone", { modelsDir })).rejects.toMatchObject({ code: "model_not_found" });
    await expect(removeModel("../etc", { modelsDir })).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("combines the manifest with GGUF metadata", async () => {
    const content = makeGguf({
      metadata: {
        "general.architecture": "qwen2",
        "general.name": "DeepSeek R1 Distill Qwen 1.5B",
        "general.file_type": 15,
        "qwen2.context_length": 131072,
        "qwen2.embedding_length": 1536,
        "tokenizer.chat_template": r1Template,
      },
      tensors: [
        { name: "token_embd.weight", dims: [16, 100] },
        { name: "output_norm.weight", dims: [16] },
      ],
    });
    const second = makeGguf({ tensors: [{ name: "blk.0.ffn_up.weight", dims: [16, 4] }] });
    await addModel(
      "r1",
      [
        { name: "r1-00001-of-00002.gguf", content },
        { name: "r1-00002-of-00002.gguf", content: second },
      ],
      { publisher: { name: "DeepSeek", country: "CN", zone: "CN" } },
    );
    const info = await modelInfo("r1", { modelsDir });
    expect(info).toMatchObject({
      id: "r1",
      architecture: "qwen2",
      name: "DeepSeek R1 Distill Qwen 1.5B",
      parameterCount: 1600 + 16 + 64,
      parameterLabel: "2K",
      quantisation: "Q4_K_M",
      contextLength: 131072,
      embeddingLength: 1536,
      chatTemplateFamily: "deepseek-r1",
      sizeOnDisk: content.length + second.length,
      manifest: { licence: { id: "MIT" }, publisher: { name: "DeepSeek" } },
    });
  });

  it("prefers general.size_label for the parameter label", async () => {
    await addModel("labelled", [
      {
        name: "l.gguf",
        content: makeGguf({ metadata: { "general.architecture": "llama", "general.size_label": "1.5B" } }),
      },
    ]);
    expect((await modelInfo("labelled", { modelsDir })).parameterLabel).toBe("1.5B");
  });

  it.each([
    [r1Template, "deepseek-r1"],
    ["<|start_header_id|>user<|end_header_id|>", "llama3"],
    ["<|im_start|>user{% if tools %}<tool_call>{% endif %}", "qwen"],
    ["<|im_start|>user<|im_end|>", "chatml"],
    ["[INST] {{ m }} [/INST]", "mistral"],
    ["<start_of_turn>user", "gemma"],
    ["something else", "unknown"],
    [undefined, "none"],
  ] as const)("detects the chat template family of %j", (template, family) => {
    expect(chatTemplateFamily(template)).toBe(family);
  });

  it("names llama.cpp file types", () => {
    expect([0, 1, 2, 7, 15, 17, 18, 30, 32].map(quantisationName)).toEqual([
      "F32",
      "F16",
      "Q4_0",
      "Q8_0",
      "Q4_K_M",
      "Q5_K_M",
      "Q6_K",
      "IQ4_XS",
      "BF16",
    ]);
    expect(quantisationName(99)).toBe("ftype 99");
  });
});
