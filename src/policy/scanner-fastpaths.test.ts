/**
 * The scanner's shortcuts must not skip what the full path finds: plain prose words decided from
 * their first two characters, IBAN candidates tried at several lengths on the written form, and
 * the merge that orders the detections. Values at the start and end of a text, next to
 * punctuation, after non-ASCII letters, and keyword lists whose prefixes look like prose words.
 */
import { describe, expect, it } from "vitest";
import { corpusPolicies, loadPolicyCorpus } from "../../test/corpus/index.ts";
import { configSchema } from "../config/config.ts";
import { createPolicyEngine } from "./policy-engine.ts";
import { isIban, isWrittenIbanPrefix } from "./validators.ts";

const engine = createPolicyEngine(configSchema.parse({}).policies);
const only = (text: string, scanWith = engine) =>
  scanWith
    .inspectText(text)
    .detections.map(
      (d) => `${d.type}${d.subtype === undefined ? "" : `/${d.subtype}`}:${d.value}@${d.start}`,
    );

/** A policy with keyword lists that start like common prose words ("pr", "or", "bl", one letter). */
const keywordEngine = createPolicyEngine({
  default: "kw",
  definitions: {
    kw: {
      classes: {},
      detectors: {},
      custom: [
        { name: "prism", keywords: ["prism", "Orbit-7"], caseSensitive: false, class: "internal" },
        { name: "letter", keywords: ["q"], caseSensitive: true, class: "internal" },
      ],
      defaultClass: "public",
    },
  },
});

describe("plain-word shortcut", () => {
  it("keywords whose first two letters start ordinary words are still tried at every word start", () => {
    expect(only("prism", keywordEngine)).toEqual(["custom/prism:prism@0"]);
    expect(only("pronto, PRISM e Prism; prisma no, prism.", keywordEngine)).toEqual([
      "custom/prism:PRISM@8",
      "custom/prism:Prism@16",
      "custom/prism:prism@34",
    ]);
    expect(only("or orbit ORBIT-7 (orbit-7)", keywordEngine)).toEqual([
      "custom/prism:ORBIT-7@9",
      "custom/prism:orbit-7@18",
    ]);
    // A one-character keyword makes every word with that first character go the full way.
    expect(only("q quite q", keywordEngine)).toEqual(["custom/letter:q@0", "custom/letter:q@8"]);
  });

  it("names at the start and end of a text, after accented and one-letter triggers", () => {
    expect(only("Claire Martin")).toEqual(["person/first_name:Claire Martin@0"]);
    expect(only("appelez Cécile Dupont")).toEqual(["person/first_name:Cécile Dupont@8"]);
    expect(only("Łukasz Nowak dzwonił")).toEqual(["person/first_name:Łukasz Nowak@0"]);
    expect(only("M. Dupont")).toEqual(["person/titled:Dupont@3"]);
    expect(only("la señora Ortega")).toEqual(["person/titled:Ortega@10"]);
    expect(only("mevrouw Visser")).toEqual(["person/titled:Visser@8"]);
  });

  it("capitalised and lower-case words that a digit, underscore or hyphen-digit makes candidates", () => {
    expect(only("Steuer 36574261809")).toEqual(["national_id/de_steuer_id:36574261809@7"]);
    expect(only("Dni X2482300W")).toEqual(["national_id/es_nie:X2482300W@4"]);
    expect(only("cf RCCMNL83S18D969H")).toEqual(["national_id/it_codice_fiscale:RCCMNL83S18D969H@3"]);
    expect(only("DB_PASSWORD=hunter2hunter2")).toEqual(["secret/assigned_secret:hunter2hunter2@12"]);
    expect(only("ghp_abcdefghijklmnopqrstuvwxyz0123456789")).toEqual([
      "secret/github_token:ghp_abcdefghijklmnopqrstuvwxyz0123456789@0",
    ]);
  });

  it("an IBAN in lower or mixed case at the start or end of a text, or right after a plain word", () => {
    expect(only("de89 3704 0044 0532 0130 00")).toEqual(["iban:de89 3704 0044 0532 0130 00@0"]);
    expect(only("Konto De89 3704 0044 0532 0130 00")).toEqual(["iban:De89 3704 0044 0532 0130 00@6"]);
    expect(only("numero fr1420041010050500013m02606")).toEqual(["iban:fr1420041010050500013m02606@7"]);
  });

  it("a surname found again before and after its announcement, at the text's edges", () => {
    expect(only("Lefèvre a appelé Mme Lefèvre, puis Lefèvre")).toEqual([
      "person/recurrence:Lefèvre@0",
      "person/titled:Lefèvre@21",
      "person/recurrence:Lefèvre@35",
    ]);
    // Not inside a longer word, whatever its script.
    expect(only("Mme Lefèvre et Lefèvreé ou _Lefèvre")).toEqual(["person/titled:Lefèvre@4"]);
  });
});

describe("IBAN candidates on the written form", () => {
  const valid = [
    "DE89 3704 0044 0532 0130 00",
    "FR76 3000 6000 0112 3456 7890 189",
    "GB82 WEST 1234 5698 7654 32",
    "nl91 abna 0417 1643 00",
    "FR1420041010050500013M02606",
  ];

  it("agrees with isIban on the compact upper-case string, at every length the scanner tries", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const candidates: string[] = [];
    for (const iban of valid) {
      candidates.push(iban, `${iban} AB12`, `${iban} 1`, iban.toLowerCase());
      // One character changed: mod-97 must fail exactly where isIban's does.
      for (let change = 0; change < 40; change++) {
        const at = Math.floor(random() * iban.length);
        if (iban[at] === " ") continue;
        const replacement = alphabet[Math.floor(random() * alphabet.length)] as string;
        candidates.push(`${iban.slice(0, at)}${replacement}${iban.slice(at + 1)}`);
      }
    }
    for (let count = 0; count < 300; count++) {
      let candidate = `${alphabet[10 + Math.floor(random() * 26)]}${alphabet[10 + Math.floor(random() * 26)]}${Math.floor(
        random() * 100,
      )
        .toString()
        .padStart(2, "0")}`;
      const groups = 3 + Math.floor(random() * 6);
      for (let group = 0; group < groups; group++) {
        if (random() < 0.7) candidate += " ";
        const size = 1 + Math.floor(random() * 4);
        for (let character = 0; character < size; character++)
          candidate += alphabet[Math.floor(random() * alphabet.length)];
      }
      candidates.push(candidate);
    }
    let agreed = 0;
    for (const candidate of candidates)
      for (let end = candidate.length; end >= 4; end = candidate.lastIndexOf(" ", end - 1)) {
        const written = candidate.slice(0, end);
        expect(isWrittenIbanPrefix(candidate, end), written).toBe(isIban(written.replaceAll(" ", "")));
        agreed++;
        if (end <= 0) break;
      }
    expect(agreed).toBeGreaterThan(candidates.length);
    for (const iban of valid) expect(isWrittenIbanPrefix(iban, iban.length)).toBe(true);
  });

  it("an IBAN that runs into the next capitalised word is cut back to the valid length", () => {
    expect(only("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX")).toEqual([
      "iban:DE89 3704 0044 0532 0130 00@5",
    ]);
  });
});

describe("detections in text order", () => {
  it("are sorted by start with overlaps resolved, whichever detector found them", () => {
    const corpusEngine = createPolicyEngine(corpusPolicies);
    for (const prompt of loadPolicyCorpus()) {
      const detections = corpusEngine.inspectText(prompt.text).detections;
      for (let index = 1; index < detections.length; index++) {
        const previous = detections[index - 1];
        const current = detections[index];
        expect(
          previous !== undefined && current !== undefined && previous.end <= current.start,
          prompt.id,
        ).toBe(true);
      }
    }
  });

  it("keeps the longer of two overlapping findings from different detectors", () => {
    // The recurrence of "Lefèvre" (a later pass) starts where the email (a later pass still) does:
    // the longer email stays, after the titled name of the master pass.
    expect(only("Mme Lefèvre : Lefèvre@example.fr")).toEqual([
      "person/titled:Lefèvre@4",
      "email:Lefèvre@example.fr@14",
    ]);
  });
});
