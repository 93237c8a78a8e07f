/**
 * `npm run bench:detectors`: detector throughput in MB/s on one core, on the multilingual policy
 * corpus (test/corpus) replicated to a few MB, side by side in one run with a naive baseline that
 * runs one regular expression per recognizer over the whole text (Presidio's design), with the same
 * checksum validators. Also reports person-name recall on the labelled set. Prints a table and
 * writes JSON to bench/results/. Options: --mb N (text size, default 4), --rounds N (default 5),
 * --baseline <git-rev> (also measures the policy engine as it was at that revision, in the same
 * alternating rounds: the host's speed moves absolute figures by a fifth within hours, so a change
 * is judged against the old code measured beside it, not against an old result file),
 * --only mixed,dense,prose (the corpora to measure).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createPolicyEngine } from "../src/policy/index.ts";
import { capitalised, firstNames, fullName, introductions, titles } from "../src/policy/names.ts";
import {
  isIban,
  isIpv4,
  isIpv6,
  isNationalId,
  isPaymentCard,
  type NationalIdKind,
} from "../src/policy/validators.ts";
import { corpusPolicies, loadPolicyCorpus } from "../test/corpus/index.ts";
import { nameScores } from "../test/corpus/names.ts";
import { prose } from "../test/corpus/prose.ts";

const { values: flags } = parseArgs({
  options: {
    mb: { type: "string", default: "4" },
    rounds: { type: "string", default: "5" },
    baseline: { type: "string" },
    only: { type: "string", default: "mixed,dense,prose" },
  },
});
const targetBytes = Number(flags.mb) * 1e6;
const rounds = Number(flags.rounds);

const corpus = loadPolicyCorpus();
/** Dense: the planted prompts alone, one detection per ~100 bytes (a worst case). */
const denseUnit = corpus.map((prompt) => prompt.text).join("\n");
/** Mixed: each planted prompt followed by a paragraph of identifier-free prose in its language (~80% of the bytes). */
const mixedUnit = corpus.map((prompt) => `${prompt.text}\n${prose[prompt.language] ?? ""}`).join("\n");
const replicate = (unit: string) => {
  let text = unit;
  while (Buffer.byteLength(text) < targetBytes) text += `\n${unit}`;
  // Flat, as the server gets it from JSON.parse: `+=` builds a rope that V8 scans more slowly.
  return JSON.parse(JSON.stringify(text)) as string;
};
/** Prose: identifier-free paragraphs alone, the floor cost of text in which there is nothing to find. */
const proseUnit = Object.values(prose).join("\n");
const texts = { mixed: replicate(mixedUnit), dense: replicate(denseUnit), prose: replicate(proseUnit) };
const proseShare = 1 - Buffer.byteLength(denseUnit) / Buffer.byteLength(mixedUnit);

/** One regular expression per recognizer, each reading the whole text, as Presidio's pattern recognizers do. */
const naiveRecognizers: Array<{ regex: RegExp; validate: (value: string) => boolean }> = [
  { regex: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g, validate: () => true },
  { regex: /(?:\+|\b00)\d{1,3}[ .-]?(?:\(0\))?\d{1,4}(?:[ .-]?\d{2,4}){2,5}\b/g, validate: () => true },
  { regex: /\b0\d{1,4}(?:[ ./-]?\d{2,4}){2,5}\b/g, validate: () => true },
  {
    regex: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
    validate: (v) => isIban(v.replaceAll(" ", "")),
  },
  { regex: /\b(?:\d[ -]?){12,18}\d\b/g, validate: (v) => isPaymentCard(v.replace(/\D/g, "")) },
  { regex: /\b(?:\d{1,3}\.){3}\d{1,3}\b/g, validate: isIpv4 },
  { regex: /\b(?:[0-9A-Fa-f]{1,4}:){1,7}:?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b/g, validate: isIpv6 },
  ...(
    [
      ["fr_nir", /\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b/g],
      ["es_dni", /\b\d{8}-?[A-Z]\b/g],
      ["es_nie", /\b[XYZ]-?\d{7}-?[A-Z]\b/g],
      [
        "it_codice_fiscale",
        /\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b/g,
      ],
      ["de_steuer_id", /\b[1-9]\d{10}\b/g],
      ["nl_bsn", /\b\d{9}\b/g],
      ["be_national_number", /\b\d{2}\.?\d{2}\.?\d{2}-?\d{3}\.?\d{2}\b/g],
      ["pl_pesel", /\b\d{11}\b/g],
    ] as Array<[NationalIdKind, RegExp]>
  ).map(([kind, regex]) => ({ regex, validate: (v: string) => isNationalId(kind, v.replace(/[ .-]/g, "")) })),
  {
    regex: /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----/g,
    validate: () => true,
  },
  { regex: /\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, validate: () => true },
  { regex: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, validate: () => true },
  { regex: /\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}/g, validate: () => true },
  { regex: /\bgh[pousr]_[A-Za-z0-9]{36,}/g, validate: () => true },
  { regex: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, validate: () => true },
  { regex: /\bAIza[0-9A-Za-z_-]{35}/g, validate: () => true },
  { regex: /\bglpat-[A-Za-z0-9_-]{20,}/g, validate: () => true },
  { regex: /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/g, validate: () => true },
  { regex: new RegExp(`\\b(?:${titles.join("|")}) +(${fullName})`, "g"), validate: () => true },
  { regex: new RegExp(`(?:${introductions.join("|")}) +(${fullName})`, "g"), validate: () => true },
  {
    regex: new RegExp(`(${capitalised}) ${capitalised}`, "g"),
    validate: (v) => firstNames.has(v.split(" ")[0] as string),
  },
  { regex: /\b(?:Orion|Project Nightjar|Bluefin|Kestrel-9)\b/gi, validate: () => true },
];

function naiveScan(input: string): number {
  let count = 0;
  for (const { regex, validate } of naiveRecognizers) {
    regex.lastIndex = 0;
    for (const match of input.matchAll(regex)) if (validate(match[0])) count++;
  }
  return count;
}

const engine = createPolicyEngine(corpusPolicies);
const bastionScan = (input: string) => engine.inspectText(input).detections.length;

/**
 * The policy engine of `revision`: its `src/` and package.json extracted by `git archive` into the
 * ignored `.cache/` folder (node_modules linked, so its imports resolve as in the working tree),
 * then imported. Built with today's corpus policies, so both engines look for the same things.
 */
async function baselineEngine(revision: string) {
  const root = join(import.meta.dirname, "..");
  const commit = execFileSync("git", ["rev-parse", "--short", `${revision}^{commit}`], {
    cwd: root,
    encoding: "utf8",
  }).trim();
  const dir = join(root, ".cache", "bench-baseline", commit);
  if (!existsSync(join(dir, "src", "policy", "index.ts"))) {
    mkdirSync(dir, { recursive: true });
    // From the repository's top level: a copy of this tree run from an ignored folder has paths git rejects.
    const top = execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: root, encoding: "utf8" }).trim();
    const archive = execFileSync("git", ["archive", commit, "package.json", "src"], {
      cwd: top,
      maxBuffer: 1 << 30,
    });
    execFileSync("tar", ["-x", "-C", dir], { input: archive });
  }
  if (!existsSync(join(dir, "node_modules")))
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  const module = (await import(pathToFileURL(join(dir, "src", "policy", "index.ts")).href)) as {
    createPolicyEngine: typeof createPolicyEngine;
  };
  return { commit, engine: module.createPolicyEngine(corpusPolicies) };
}
const baseline = flags.baseline === undefined ? undefined : await baselineEngine(flags.baseline);

/** CPU seconds of one scan: this process's time, not wall time, since on a shared machine the wall clock measures the neighbours. */
function cpuSeconds(scan: () => number): { seconds: number; detections: number } {
  const started = process.cpuUsage();
  const detections = scan();
  const used = process.cpuUsage(started);
  return { seconds: (used.user + used.system) / 1e6, detections };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** Both scanners on one corpus, in alternating rounds so that a change in machine load hits both alike. */
function compare(corpusName: keyof typeof texts) {
  const text = texts[corpusName];
  const bytes = Buffer.byteLength(text);
  const contestants = [
    { name: "bastion one-pass scanner", scan: bastionScan, seconds: [] as number[], detections: 0 },
    { name: "naive: one regex per recognizer", scan: naiveScan, seconds: [] as number[], detections: 0 },
  ];
  if (baseline !== undefined) {
    const old = baseline.engine;
    contestants.push({
      name: `bastion at ${baseline.commit}`,
      scan: (input: string) => old.inspectText(input).detections.length,
      seconds: [],
      detections: 0,
    });
  }
  for (const contestant of contestants) {
    // Warm-up: compile the expressions and let the JIT reach its top tier, as in a long-running server.
    for (let warm = 0; warm < 3; warm++) contestant.scan(text);
  }
  for (let round = 0; round < rounds; round++)
    for (const contestant of contestants) {
      const { seconds, detections } = cpuSeconds(() => contestant.scan(text));
      contestant.seconds.push(seconds);
      contestant.detections = detections;
    }
  const [ours, naive, ...others] = contestants.map((contestant) => ({
    name: contestant.name,
    corpus: corpusName,
    bytes,
    medianSeconds: median(contestant.seconds),
    mbPerSecond: bytes / 1e6 / median(contestant.seconds),
    seconds: contestant.seconds,
    detections: contestant.detections,
  })) as [ResultRow, ResultRow, ...ResultRow[]];
  return [
    { ...ours, ratio: ours.mbPerSecond / naive.mbPerSecond },
    { ...naive, ratio: 1 },
    ...others.map((other) => ({ ...other, ratio: other.mbPerSecond / naive.mbPerSecond })),
  ];
}

interface ResultRow {
  name: string;
  corpus: string;
  bytes: number;
  medianSeconds: number;
  mbPerSecond: number;
  /** Every round's CPU seconds, in order (rounds alternate between the contestants). */
  seconds: number[];
  detections: number;
}

/**
 * The recall and precision check behind the throughput, prompt by prompt as the corpus test does:
 * planted values found with their type, and detections that were not planted (lookalikes failing
 * their checksum must be among the misses). A faster scanner must leave these counts as they are.
 */
function plantedCheck() {
  let planted = 0;
  let found = 0;
  let unplanted = 0;
  for (const prompt of corpus) {
    const { detections } = engine.inspectText(prompt.text);
    for (const value of prompt.planted) {
      planted++;
      if (detections.some((detection) => detection.value === value.value && detection.type === value.type))
        found++;
    }
    for (const detection of detections)
      if (!prompt.planted.some((value) => value.value === detection.value)) unplanted++;
  }
  const lookalikes = corpus.reduce((sum, prompt) => sum + prompt.lookalikes.length, 0);
  return { planted, found, unplanted, lookalikes };
}
const check = plantedCheck();

const corpora = (["mixed", "dense", "prose"] as const).filter((name) => flags.only.split(",").includes(name));
const results = corpora.flatMap(compare);
const names = nameScores((input) =>
  engine
    .inspectText(input)
    .detections.filter((detection) => detection.type === "person")
    .map((detection) => detection.value),
);

process.stdout.write(
  `Detector throughput, MB/s per core (CPU time, median of ${rounds}) on ${Number(flags.mb)} MB of the ${corpus.length}-prompt FR/DE/IT/ES/NL/PL corpus\n` +
    `mixed = each prompt + a paragraph of identifier-free prose (${(proseShare * 100).toFixed(0)}% prose); dense = prompts alone (one value per ~100 bytes); prose = the paragraphs alone\n` +
    `${cpus()[0]?.model ?? "cpu"}, Node ${process.version}\n\n`,
);
process.stdout.write(
  `${"corpus".padEnd(8)}${"detector".padEnd(34)}${"MB/s".padStart(8)}${"detections".padStart(12)}${"ratio".padStart(8)}\n`,
);
for (const result of results)
  process.stdout.write(
    `${result.corpus.padEnd(8)}${result.name.padEnd(34)}${result.mbPerSecond.toFixed(1).padStart(8)}${String(result.detections).padStart(12)}${result.ratio.toFixed(2).padStart(8)}\n`,
  );
process.stdout.write(
  `\nplanted values found with their type: ${check.found}/${check.planted}; detections not planted: ${check.unplanted} (${check.lookalikes} checksum-failing lookalikes in the corpus)\n`,
);
process.stdout.write(
  `person names on the labelled set: recall ${names.found}/${names.total} (${(names.recall * 100).toFixed(0)}%), precision ${(names.precision * 100).toFixed(0)}%\n`,
);

const resultsDir = join(import.meta.dirname, "results");
mkdirSync(resultsDir, { recursive: true });
const file = join(
  resultsDir,
  `detectors-${new Date().toISOString().replaceAll(":", "-").replaceAll(".", "-")}.json`,
);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, node: process.version, loadAverage: loadavg(), rounds, baseline: baseline?.commit, proseShare, results, planted: check, names }, null, 2)}\n`,
);
process.stdout.write(
  `load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")}\nwrote ${file}\n`,
);
// The counts are the detectors' contract: a run that loses a planted value or flags a lookalike fails.
if (check.found !== check.planted || check.unplanted !== 0) process.exitCode = 1;
