import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkBatchingPatch, patchMarkers } from "./llama-patch.ts";

/** A fake node-llama-cpp folder whose LlamaContext.js holds `source`. */
async function fakePackage(source: string, run: (root: string) => void): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "bastion-nlc-"));
  try {
    await mkdir(join(root, "dist", "evaluator", "LlamaContext"), { recursive: true });
    await writeFile(join(root, "package.json"), JSON.stringify({ version: "3.99.0" }));
    await writeFile(join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js"), source);
    run(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

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

  it("looks for exactly the markers the patch script leaves", () => {
    const script = readFileSync(new URL("../../scripts/patch-node-llama-cpp.mjs", import.meta.url), "utf8");
    const inScript = [...script.matchAll(/marker: "([^"]+)"/g)].map((match) => match[1]).sort();
    expect(inScript).toEqual([...patchMarkers.batching, ...patchMarkers.speculative].sort());
  });

  it("says what is wrong and how to fix it when the dispatcher is not patched", async () => {
    await fakePackage("// upstream code\n", (root) => {
      const status = checkBatchingPatch(root);
      expect(status.applied).toBe(false);
      expect(status.version).toBe("3.99.0");
      expect(status.warning).toMatch(
        /without Bastion's patch.*batches poorly.*scripts\/patch-node-llama-cpp\.mjs/,
      );
    });
  });

  it("names the speculative fix when only the older batching patch is in place", async () => {
    await fakePackage(`${patchMarkers.batching.map((marker) => `// ${marker}`).join("\n")}\n`, (root) => {
      const status = checkBatchingPatch(root);
      expect(status.applied).toBe(false);
      expect(status.missing).toEqual([...patchMarkers.speculative]);
      expect(status.warning).toMatch(/refutes every draft after the first/);
      expect(status.warning).not.toMatch(/batches poorly/);
    });
  });
});
