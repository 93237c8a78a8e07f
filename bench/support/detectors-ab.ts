/**
 * A/B of policy-module trees on one corpus, in alternating rounds in one process (CPU time, median):
 *   node bench/support/detectors-ab.ts --corpus mixed --rounds 7 name=dir name=dir ...
 * where each dir holds a policy module (index.ts), e.g. src/policy or an extracted old revision.
 * Used to find where the scanner's time goes (variants with one pass switched off) and to compare
 * a change against its parent beside it.
 */
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { createPolicyEngine } from "../../src/policy/index.ts";
import { corpusPolicies } from "../../test/corpus/index.ts";
import { detectorBenchText } from "./detector-text.ts";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    mb: { type: "string", default: "4" },
    rounds: { type: "string", default: "7" },
    corpus: { type: "string", default: "mixed" },
  },
});
const text = detectorBenchText(flags.corpus, Number(flags.mb));
const bytes = Buffer.byteLength(text);

const variants = await Promise.all(
  positionals.map(async (spec) => {
    const [name, dir] = spec.split("=") as [string, string];
    const module = (await import(pathToFileURL(join(resolve(dir), "index.ts")).href)) as {
      createPolicyEngine: typeof createPolicyEngine;
    };
    const engine = module.createPolicyEngine(corpusPolicies);
    return {
      name,
      scan: () => engine.inspectText(text).detections.length,
      seconds: [] as number[],
      detections: 0,
    };
  }),
);
for (const variant of variants) for (let warm = 0; warm < 3; warm++) variant.scan();
for (let round = 0; round < Number(flags.rounds); round++)
  for (const variant of variants) {
    const started = process.cpuUsage();
    variant.detections = variant.scan();
    const used = process.cpuUsage(started);
    variant.seconds.push((used.user + used.system) / 1e6);
  }
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
process.stdout.write(
  `${flags.corpus}, ${(bytes / 1e6).toFixed(2)} MB, load ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")}\n`,
);
for (const variant of variants)
  process.stdout.write(
    `${variant.name.padEnd(14)} ${(bytes / 1e6 / median(variant.seconds)).toFixed(1).padStart(7)} MB/s  ${(median(variant.seconds) * 1e3).toFixed(2).padStart(7)} ms  ${String(variant.detections).padStart(6)} detections  rounds ${variant.seconds.map((s) => (s * 1e3).toFixed(1)).join(" ")}\n`,
  );
