/**
 * A fixed workload for instruction counts (`valgrind --tool=callgrind`), which hold on a busy
 * machine where CPU seconds do not: builds the benchmark's mixed corpus (flat, `--mb` MB), scans it
 * `--warm` times to let the JIT settle, then `--scans` more times. The per-scan cost is the
 * difference of two runs' totals divided by the difference of their `--scans` (start-up, corpus
 * building and compilation cancel out). `--policy <dir>` scans with the policy module in `dir`
 * (default this tree's src/policy; bench/detectors.ts --baseline extracts old ones to .cache/).
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/support/detectors-driver.ts --scans 4
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { createPolicyEngine } from "../../src/policy/index.ts";
import { corpusPolicies } from "../../test/corpus/index.ts";
import { detectorBenchText } from "./detector-text.ts";

const { values: flags } = parseArgs({
  options: {
    mb: { type: "string", default: "1" },
    warm: { type: "string", default: "6" },
    scans: { type: "string", default: "4" },
    policy: { type: "string", default: join(import.meta.dirname, "..", "..", "src", "policy") },
    corpus: { type: "string", default: "mixed" },
  },
});

const text = detectorBenchText(flags.corpus, Number(flags.mb));

const module = (await import(pathToFileURL(join(flags.policy, "index.ts")).href)) as {
  createPolicyEngine: typeof createPolicyEngine;
};
const engine = module.createPolicyEngine(corpusPolicies);
let detections = 0;
for (let round = 0; round < Number(flags.warm); round++)
  detections = engine.inspectText(text).detections.length;
for (let round = 0; round < Number(flags.scans); round++)
  detections = engine.inspectText(text).detections.length;
process.stdout.write(`${flags.corpus} ${Buffer.byteLength(text)} bytes, ${detections} detections\n`);
