#!/usr/bin/env node
// Runs after `npm ci` / `npm install` (package.json "postinstall").
//
// node-llama-cpp 3.22 decodes the batches of a context in a loop that holds the context lock for
// as long as any sequence has a decode queued. A new request on a reused slot must first erase
// that slot's old KV-cache tokens, which takes the same lock, so with two generations running a
// third request waited until one of them ended (measured: 5.3 s to its first token; 15 ms with
// this patch). The patch makes the loop give the lock up after each batch and schedule the next
// one, so KV-cache edits interleave with decoding, as in llama.cpp's own server. To be proposed
// upstream; until then it is applied here, and this script fails loudly if the code it patches
// changes, so that an upgrade cannot silently drop it.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The package exports only its entry point (dist/index.js); its root is one folder above dist/.
const root = join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
const file = join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js");
const marker = "bastion: one batch per context-lock hold";
const original = `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`;
const patched = `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        // ${marker}: KV-cache edits of other sequences wait for this lock and
                        // must get a turn between batches, or they starve while others generate.
                        shouldHaveAnotherLoop = false;
                        if (this._queuedDecodes.length > 0)
                            this._scheduleDecode();`;

const source = readFileSync(file, "utf8");
if (source.includes(marker)) process.exit(0);
if (!source.includes(original)) {
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  console.error(
    `scripts/patch-node-llama-cpp.mjs: node-llama-cpp ${version} no longer has the batch loop this patch expects.\n` +
      "Check whether upstream fixed the context-lock starvation, then update or remove this patch.",
  );
  process.exit(1);
}
writeFileSync(file, source.replace(original, patched));
console.log(
  "patched node-llama-cpp: one decode batch per context-lock hold (see scripts/patch-node-llama-cpp.mjs)",
);
