#!/usr/bin/env node
// Runs after `npm ci` / `npm install` (package.json "postinstall"). It patches node-llama-cpp
// 3.22's batch dispatcher (LlamaContext.dispatchPendingBatch) so that parallel sequences really
// share batches. Three changes, each measured on the 2-core CI machine with the synthetic
// DeepSeek-R1-Distill-Qwen-1.5B (README, "A patch to node-llama-cpp"):
//
// 1. Give the context lock up after each batch. The loop held it while any decode was queued,
//    and a new request on a reused slot must erase that slot's old KV-cache tokens under the same
//    lock: with two generations running, a third request waited 6.4 s for its first token.
// 2. Before taking a batch, wait (at most 5 ms) for the sequences of the previous batch to queue
//    their next token: they are still sampling it when the lock frees, so every batch held one
//    sequence fewer than were generating (4 streams: batches of 3; 2 streams: batches of 1).
// 3. Order a batch by sequence id, so that llama.cpp can reuse its compute graph from one step to
//    the next (0 graphs reused of 14 before, 14 of 14 after).
// Together: 4 streams decode 1.9x as fast as one (21.6 vs 11.1 tok/s at 2 threads, direct; 2.1x
// through Bastion's HTTP API in `npm run bench:engine`), against 1.2x
// before. To be proposed upstream. The script refuses to run if the code it patches changes, so
// that an upgrade of node-llama-cpp cannot silently drop it.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The package exports only its entry point (dist/index.js); its root is one folder above dist/.
const root = join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
const file = join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js");
const marker = "bastion-batching-patch";

const edits = [
  {
    name: "wait for the previous batch's sequences",
    from: `            this._batchDispatchPending = false;
            let shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`,
    to: `            this._batchDispatchPending = false;
            // ${marker} (2): let the sequences of the last batch queue their next token first.
            const lastBatch = this._lastBatchSequenceIds;
            if (lastBatch != null && lastBatch.size > 1) {
                const deadline = performance.now() + 5;
                while (performance.now() < deadline && [...lastBatch].some((id) => !this._queuedDecodeSequenceIds.has(id)))
                    await new Promise((resolve) => setImmediate(resolve));
            }
            let shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`,
  },
  {
    name: "order a batch by sequence id",
    from: `                    const { currentBatchItems, currentBatchSize } = fitQueuedDecodesToABatch(orderedQueuedDecodes, this._batchSize);`,
    to: `                    const { currentBatchItems, currentBatchSize } = fitQueuedDecodesToABatch(orderedQueuedDecodes, this._batchSize);
                    // ${marker} (3): a stable order lets llama.cpp reuse its compute graph.
                    currentBatchItems.sort((a, b) => a.queuedDecode.sequenceId - b.queuedDecode.sequenceId);`,
  },
  {
    name: "one batch per context-lock hold",
    from: `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`,
    to: `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        // ${marker} (1): KV-cache edits of other sequences wait for this lock and
                        // must get a turn between batches, or they starve while others generate.
                        shouldHaveAnotherLoop = false;
                        this._lastBatchSequenceIds = new Set(currentBatchItems.map((item) => item.queuedDecode.sequenceId));
                        if (this._queuedDecodes.length > 0)
                            this._scheduleDecode();`,
  },
];

// The patch was written and measured against one release: package.json pins it exactly, and any
// other version (a lockfile refresh, a manual upgrade) must be looked at before it is patched.
const { version: installed } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const ours = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const pinned = ours.dependencies?.["node-llama-cpp"];
if (installed !== pinned) {
  console.error(
    `scripts/patch-node-llama-cpp.mjs: node-llama-cpp ${installed} is installed, but the patch is for ${pinned} (package.json).\n` +
      "Install the pinned version (npm ci), or check the patch against the new version and update the pin.",
  );
  process.exit(1);
}

let source = readFileSync(file, "utf8");
if (source.includes(marker)) process.exit(0);
for (const edit of edits) {
  if (!source.includes(edit.from)) {
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    console.error(
      `scripts/patch-node-llama-cpp.mjs: node-llama-cpp ${version} no longer has the code for "${edit.name}".\n` +
        "Check whether upstream changed its batch dispatch, then update or remove this patch.",
    );
    process.exit(1);
  }
  source = source.replace(edit.from, edit.to);
}
writeFileSync(file, source);
console.log("patched node-llama-cpp's batch dispatcher (see scripts/patch-node-llama-cpp.mjs)");
