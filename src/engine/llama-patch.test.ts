import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkBatchingPatch } from "./llama-patch.ts";

describe("the node-llama-cpp patch check", () => {
  it("finds the patch that npm's postinstall applied, on the version package.json pins", () => {
    const pinned = (
      JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        dependencies: Record<string, string>;
      }
    ).dependencies["node-llama-cpp"];
    const status = checkBatchingPatch();
    expect(status).toEqual({ applied: true, version: pinned });
  });

  it("says what is wrong and how to fix it when the dispatcher is not patched", async () => {
    const { mkdir, mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const root = await mkdtemp(join(tmpdir(), "bastion-nlc-"));
    try {
      await mkdir(join(root, "dist", "evaluator", "LlamaContext"), { recursive: true });
      await writeFile(join(root, "package.json"), JSON.stringify({ version: "3.99.0" }));
      await writeFile(
        join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js"),
        "// upstream code\n",
      );
      const status = checkBatchingPatch(root);
      expect(status.applied).toBe(false);
      expect(status.version).toBe("3.99.0");
      expect(status.warning).toMatch(/without Bastion's batching patch.*scripts\/patch-node-llama-cpp\.mjs/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
