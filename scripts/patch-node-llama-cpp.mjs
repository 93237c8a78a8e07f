#!/usr/bin/env node
// Runs after `npm ci` / `npm install` (package.json "postinstall"). It patches node-llama-cpp
// 3.22.1's LlamaContext.js in two places, each measured on the 2-core CI machine with the
// synthetic DeepSeek-R1-Distill-Qwen-1.5B (README, "A patch to node-llama-cpp").
//
// The batch dispatcher (LlamaContext.dispatchPendingBatch), so that parallel sequences really
// share batches:
// 1. Give the context lock up after each batch. The loop held it while any decode was queued,
//    and a new request on a reused slot must erase that slot's old KV-cache tokens under the same
//    lock: with two generations running, a third request waited 6.4 s for its first token.
// 2. Before taking a batch, wait (at most 5 ms) for the sequences of the previous batch to queue
//    their next token: they are still sampling it when the lock frees, so every batch held one
//    sequence fewer than were generating (4 streams: batches of 3; 2 streams: batches of 1).
// 3. Order a batch by sequence id, so that llama.cpp can reuse its compute graph from one step to
//    the next (0 graphs reused of 14 before, 14 of 14 after).
// Together: 4 streams decode 1.9x as fast as one (21.6 vs 11.1 tok/s at 2 threads, direct; 2.1x
// through Bastion's HTTP API in `npm run bench:engine`), against 1.2x before.
//
// The verification of speculative drafts (LlamaContextSequence._speculativeEvaluate):
// 4, 5. A draft is accepted when the token sampled at the position before it equals it. For the
//    second draft on, upstream compares with `validatedTokens.at(-1)`, but nothing is ever pushed
//    to that list, so every draft after the first was refuted even when it was exactly the
//    model's greedy continuation: prompt lookup accepted 1 draft of 4 and decoded no faster. The
//    patch records each accepted draft with the token sampled after it (and empties the list
//    before each verification), so a run of correct drafts is accepted whole.
//
// To be proposed upstream. The script refuses to run if the code it patches changes, so that an
// upgrade of node-llama-cpp cannot silently drop a change. Each change carries its own marker, so
// an install patched by an older version of this script gets the missing ones only.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The package exports only its entry point (dist/index.js); its root is one folder above dist/.
const root = join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
const file = join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js");
const batching = "bastion-batching-patch";
const speculative = "bastion-speculative-patch";

// Each edit leaves its marker in the file; src/engine/llama-patch.ts looks for the same markers at
// start-up (its test checks that the two lists agree).
const edits = [
  {
    name: "wait for the previous batch's sequences",
    marker: "bastion-batching-patch (2)",
    from: `            this._batchDispatchPending = false;
            let shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`,
    to: `            this._batchDispatchPending = false;
            // ${batching} (2): let the sequences of the last batch queue their next token first.
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
    marker: "bastion-batching-patch (3)",
    from: `                    const { currentBatchItems, currentBatchSize } = fitQueuedDecodesToABatch(orderedQueuedDecodes, this._batchSize);`,
    to: `                    const { currentBatchItems, currentBatchSize } = fitQueuedDecodesToABatch(orderedQueuedDecodes, this._batchSize);
                    // ${batching} (3): a stable order lets llama.cpp reuse its compute graph.
                    currentBatchItems.sort((a, b) => a.queuedDecode.sequenceId - b.queuedDecode.sequenceId);`,
  },
  {
    name: "one batch per context-lock hold",
    marker: "bastion-batching-patch (1)",
    from: `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        shouldHaveAnotherLoop = this._queuedDecodes.length > 0;`,
    to: `                        await decodeTokenBatchItems(currentBatchItems, currentBatchSize);
                        // ${batching} (1): KV-cache edits of other sequences wait for this lock and
                        // must get a turn between batches, or they starve while others generate.
                        shouldHaveAnotherLoop = false;
                        this._lastBatchSequenceIds = new Set(currentBatchItems.map((item) => item.queuedDecode.sequenceId));
                        if (this._queuedDecodes.length > 0)
                            this._scheduleDecode();`,
  },
  {
    name: "verify each draft against the token sampled before it",
    marker: "bastion-speculative-patch (4)",
    from: `                        for (let i = logitsStartIndex; i < evalTokens.length; i++) {
                            const item = decodeResult[i];`,
    to: `                        // ${speculative} (4): the drafts accepted in this verification only.
                        validatedTokens.length = 0;
                        for (let i = logitsStartIndex; i < evalTokens.length; i++) {
                            const item = decodeResult[i];`,
  },
  {
    name: "record each accepted draft",
    marker: "bastion-speculative-patch (5)",
    from: `                                    this._loadedTokenPredictions.push([evalTokens[i], [resultToken, probabilities, confidence]]);
                                    this._validatedTokenPredictions++;`,
    to: `                                    this._loadedTokenPredictions.push([evalTokens[i], [resultToken, probabilities, confidence]]);
                                    // ${speculative} (5): the next draft is checked against resultToken.
                                    validatedTokens.push([evalTokens[i], resultToken]);
                                    this._validatedTokenPredictions++;`,
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
const missing = edits.filter((edit) => !source.includes(edit.marker));
if (missing.length === 0) process.exit(0);
for (const edit of missing) {
  if (!source.includes(edit.from)) {
    console.error(
      `scripts/patch-node-llama-cpp.mjs: node-llama-cpp ${installed} no longer has the code for "${edit.name}".\n` +
        "Check whether upstream changed this code, then update or remove this patch.",
    );
    process.exit(1);
  }
  source = source.replace(edit.from, edit.to);
}
// Other processes may be loading the file: replace it whole, never leave it half written.
const temporary = `${file}.bastion-${process.pid}.tmp`;
writeFileSync(temporary, source);
renameSync(temporary, file);
console.log(
  `patched node-llama-cpp (see scripts/patch-node-llama-cpp.mjs): ${missing.map((edit) => edit.name).join("; ")}`,
);
