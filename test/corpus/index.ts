import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PoliciesConfig } from "../../src/config/policies-config.ts";
import type { DetectorType } from "../../src/policy/types.ts";

/** A value planted in a prompt, which the detectors must find. */
export interface PlantedValue {
  type: DetectorType;
  value: string;
}

export interface CorpusPrompt {
  id: string;
  /** ISO 639-1: fr, de, it, es, nl, pl. */
  language: string;
  text: string;
  planted: PlantedValue[];
  /** Checksum-failing identifiers and order numbers in the text, which must not be flagged. */
  lookalikes: string[];
}

/**
 * The labelled multilingual corpus (test/corpus/prompts.json, written by generate.ts): 240 prompts
 * in FR, DE, IT, ES, NL and PL with planted values of every detector type. Custom values are the
 * code names of `corpusPolicies`, which the engine must be given for them to be found.
 */
export function loadPolicyCorpus(): CorpusPrompt[] {
  return JSON.parse(readFileSync(join(import.meta.dirname, "prompts.json"), "utf8")) as CorpusPrompt[];
}

/** The project code names planted as `custom` values. */
export const corpusCodenames = ["Orion", "Project Nightjar", "Bluefin", "Kestrel-9"];

/**
 * A `policies` config under which every planted value is detected: the built-in policies plus
 * `corpus`, which is eu-strict with a keyword rule for the corpus code names (class internal).
 */
export const corpusPolicies: PoliciesConfig = {
  default: "corpus",
  definitions: {
    corpus: {
      classes: {},
      detectors: {},
      custom: [{ name: "codename", keywords: corpusCodenames, caseSensitive: false, class: "internal" }],
      defaultClass: "public",
    },
  },
};
