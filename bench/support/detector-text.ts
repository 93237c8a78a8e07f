import { loadPolicyCorpus } from "../../test/corpus/index.ts";
import { prose } from "../../test/corpus/prose.ts";

/**
 * The detector benchmark's text for one corpus, as bench/detectors.ts builds it: copies of the
 * corpus unit up to `mb` MB, then flattened (a cons string scans slower than a flat one), without
 * measuring the growing string each time, which would flatten it once per copy.
 */
export function detectorBenchText(corpusName: string, mb: number): string {
  const corpus = loadPolicyCorpus();
  const units: Record<string, string> = {
    mixed: corpus.map((prompt) => `${prompt.text}\n${prose[prompt.language] ?? ""}`).join("\n"),
    dense: corpus.map((prompt) => prompt.text).join("\n"),
    prose: Object.values(prose).join("\n"),
  };
  const unit = units[corpusName];
  if (unit === undefined) throw new Error(`--corpus must be one of ${Object.keys(units).join(", ")}`);
  const copies = Math.max(1, Math.ceil((mb * 1e6 + 1) / (Buffer.byteLength(unit) + 1)));
  return JSON.parse(JSON.stringify(Array.from({ length: copies }, () => unit).join("\n"))) as string;
}
