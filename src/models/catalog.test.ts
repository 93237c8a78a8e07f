import { describe, expect, it } from "vitest";
import { catalog, defaultCatalogEntry, estimateRamBytes, findCatalogEntry } from "./catalog.ts";
import { quantFromFileName } from "./pull/ref.ts";

describe("catalog", () => {
  it("has unique, well-formed names and exactly one default, a small reasoning model", () => {
    const names = catalog.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9][a-z0-9._-]*$/);
    expect(catalog.filter((e) => e.default === true)).toHaveLength(1);
    expect(defaultCatalogEntry()).toMatchObject({
      name: "deepseek-r1-distill-qwen-1.5b",
      quantisation: "Q4_K_M",
    });
    expect(defaultCatalogEntry().capabilities.reasoning).toBe(true);
  });

  it.each(catalog.map((e) => [e.name, e] as const))("%s has every field", (_name, entry) => {
    expect(entry.repo).toMatch(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/);
    expect(entry.files.length).toBeGreaterThan(0);
    for (const file of entry.files) {
      expect(file).toMatch(/\.gguf$/);
      expect(quantFromFileName(file)).toBe(entry.quantisation);
    }
    expect(entry.licence.id).not.toBe("");
    expect(entry.licence.url).toMatch(/^https:\/\//);
    expect(entry.publisher.name).not.toBe("");
    expect(entry.publisher.country).toMatch(/^[A-Z]{2}$/);
    expect(entry.packager).not.toBe("");
    expect(entry.baseModel).toMatch(/\//);
    expect(entry.parameters).toMatch(/^\d+(\.\d+)?[MB]$/);
    expect(entry.fileSizeBytes).toBeGreaterThan(100_000_000);
    expect(entry.contextLength).toBeGreaterThanOrEqual(entry.defaultContext);
    expect(entry.capabilities.languages.length).toBeGreaterThan(0);
    expect(estimateRamBytes(entry)).toBeGreaterThan(entry.fileSizeBytes);
    expect(entry.verification.length).toBeGreaterThan(10);
  });

  it("covers what the issue asks for", () => {
    for (const name of [
      "deepseek-r1-distill-qwen-1.5b",
      "deepseek-r1-distill-qwen-7b",
      "mistral-7b-instruct-v0.3",
      "eurollm-1.7b-instruct",
      "eurollm-9b-instruct",
      "qwen2.5-0.5b-instruct",
      "qwen2.5-1.5b-instruct",
      "llama-3.2-1b-instruct",
      "llama-3.2-3b-instruct",
    ]) {
      expect(findCatalogEntry(name), name).toBeDefined();
    }
    expect(
      catalog.some(
        (e) => e.capabilities.embeddings && e.capabilities.languages.some((l) => /multilingual/.test(l)),
      ),
    ).toBe(true);
  });

  it("estimates RAM as file + f16 KV cache + overhead", () => {
    const entry = {
      fileSizeBytes: 1_000_000_000,
      defaultContext: 4096,
      shape: { layers: 28, kvHeads: 2, headDim: 128 },
    };
    expect(estimateRamBytes(entry)).toBe(1_000_000_000 + 2 * 28 * 2 * 128 * 2 * 4096 + 300 * 1024 * 1024);
  });
});
