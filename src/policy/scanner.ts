import {
  capitalised,
  firstNames,
  fullName,
  introductions,
  nameTriggerWords,
  secondTitle,
  titles,
} from "./names.ts";
import { scanEmails, scanIpv6 } from "./scan-anchored.ts";
import { classifyNumber } from "./scan-numbers.ts";
import type { Detection, DetectorType } from "./types.ts";
import { isNationalId, isWrittenIbanPrefix } from "./validators.ts";

/**
 * The detections of the text being scanned. One object per scan with `add` on its class, not a
 * closure made per scan: every detector calls the same function, so V8 keeps those calls
 * monomorphic and inlines them (a fresh closure each scan was a "wrong call target" deoptimisation
 * of every caller, then a generic call).
 */
export class Findings {
  readonly found: Detection[] = [];
  private readonly on: ReadonlySet<DetectorType>;
  private readonly path: string;

  constructor(on: ReadonlySet<DetectorType>, path: string) {
    this.on = on;
    this.path = path;
  }

  /** Records a detection found in the current text (skipped when its type is off). */
  add(type: DetectorType, start: number, value: string, score: number, subtype?: string): void {
    if (!this.on.has(type)) return;
    const path = this.path;
    const end = start + value.length;
    // Two literals rather than adding `subtype` afterwards: the added property moved each such
    // detection to a new map and an out-of-object property store (an allocation per detection).
    this.found.push(
      subtype === undefined
        ? { type, path, start, end, value, score }
        : { type, path, start, end, value, score, subtype },
    );
  }
}

/** A detection before it is tied to a text of the request. */
export type Finding = Omit<Detection, "path">;

/** A detector Bastion does not ship (a module's own, or a model-based one); runs after the built-in pass. */
export interface Detector {
  readonly name: string;
  detect(text: string): Finding[];
}

/** A per-policy pattern or keyword list, already compiled. */
export interface CustomMatcher {
  name: string;
  /** Global regular expression; its whole match is the detection. */
  regex: RegExp;
  /** Whether a match must not follow a letter or digit (keyword lists). */
  wordBoundary?: boolean;
  /**
   * Keyword lists: the first two characters a match can start with (one for a one-character
   * keyword). When every first character is a letter or digit the scanner tries the list only at
   * word starts with one of these prefixes, during its own pass over the text, instead of running
   * the expression over every position.
   */
  prefixes?: readonly string[];
}

/** Keyword lists tried at word starts by the master pass (see `CustomMatcher.firstChars`). */
interface WordKeywords {
  /** For a code unit a listed keyword can start with: 1, check the pair; 2, any second character. */
  first: Uint8Array;
  /** First and second code units of the prefixes, as `first * 65536 + second`. */
  pairs: Set<number>;
  /** 1 at the `pairSlot` of every pair in `pairs`: a pair with 0 there is not a prefix. */
  pairFilter: Uint8Array;
  lists: Array<{ sticky: RegExp; hits: Array<number | string>; nextAllowed: number }>;
}

export interface ScannerOptions {
  /** Built-in detector types to run; the others are skipped. */
  enabled: ReadonlySet<DetectorType>;
  custom?: readonly CustomMatcher[];
  extra?: readonly Detector[];
}

export interface Scanner {
  /** Detections in `text`, each tagged with `path` (built with it, not copied after: this is the hot path). */
  scan(text: string, path: string): Detection[];
}

/** The families of candidates the master expressions look for, in the order they are tried. */
type Family =
  | "privateKey"
  | "jwt"
  | "apiKey"
  | "assignedSecret"
  | "nie"
  | "fiscalCode"
  | "iban"
  | "nirCorsica"
  | "number"
  | "titledName"
  | "introducedName"
  | "firstName";

const omocode = "[0-9LMNPQRSTUV]";
/** Each family's expression; its first group is set whenever the family matched. */
const familySources: ReadonlyArray<[Family, string]> = [
  [
    "privateKey",
    String.raw`(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$))`,
  ],
  ["jwt", String.raw`\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)`],
  [
    "apiKey",
    String.raw`\b((?:AKIA|ASIA)[0-9A-Z]{16}|sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{30,}|bst_live_[A-Za-z0-9]+_[A-Za-z0-9]{16,})\b`,
  ],
  [
    "assignedSecret",
    String.raw`(?:\b(?:password|passwd|api_key|apikey|api-key|secret_key|client_secret|access_token|auth_token)|\b[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|API_KEY))["']?\s*[:=]\s*["']?([^\s"',;]{8,})`,
  ],
  ["nie", String.raw`\b([XYZ]-?\d{7}-?[A-Z])\b`],
  ["fiscalCode", String.raw`\b([A-Z]{6}${omocode}{2}[A-EHLMPRST]${omocode}{2}[A-Z]${omocode}{3}[A-Z])\b`],
  ["iban", String.raw`\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8})\b`],
  ["nirCorsica", String.raw`\b([12] ?\d\d ?\d\d ?2[AB] ?\d{3} ?\d{3} ?\d\d)\b`],
  ["number", String.raw`((?:\+|\(\+?|\b)\d(?:[ .\-/()]{0,2}\d){5,})(?:-?([A-Z]))?(?![\w])`],
  ["titledName", String.raw`\b(?:${titles.join("|")}) +${secondTitle}(${fullName})`],
  ["introducedName", `(?:${introductions.join("|")}) +(${fullName})`],
  // The first names as literals: the engine tries them only where a listed name's first letter is,
  // which is several times faster than matching every pair of capitalised words and looking them up.
  [
    "firstName",
    String.raw`(?<![\wÀ-ſ])(${[...firstNames].join("|")}) (${capitalised}(?:[ -]${capitalised})?)`,
  ],
];

/** One sticky expression over some families, and where each family's first group is. */
interface Master {
  regex: RegExp;
  groups: ReadonlyArray<[Family, number]>;
}

/**
 * The families as one alternation, so that a word is read once (Presidio reads the text once per
 * recognizer). Sticky: `scanMaster` runs it only at the words that can start a match. There is one
 * per kind of word start, holding only the families that can begin with such a character (in the
 * same relative order, so a word gets the match the full alternation would give it): fewer
 * alternatives to try and fewer groups to fill at each word.
 */
function composeMaster(families: readonly Family[]): Master {
  const groups: Array<[Family, number]> = [];
  let group = 1;
  const sources: string[] = [];
  for (const [family, source] of familySources) {
    if (!families.includes(family)) continue;
    groups.push([family, group]);
    group += (new RegExp(`${source}|`).exec("") as RegExpExecArray).length - 1;
    sources.push(source);
  }
  return { regex: new RegExp(sources.join("|"), "y"), groups };
}

const lowerFirstName = [...firstNames].some((name) => name[0] !== name[0]?.toUpperCase());
/** A digit: a number run, a Corsican NIR, or an upper-case secret name (2FA_SECRET=). */
const digitMaster = composeMaster(["assignedSecret", "nirCorsica", "number"]);
/** `+` or `(`: a phone number. */
const openerMaster = composeMaster(["number"]);
/** `-----BEGIN`: a key block. */
const hyphenMaster = composeMaster(["privateKey"]);
const upperMaster = composeMaster([
  "apiKey",
  "assignedSecret",
  "nie",
  "fiscalCode",
  "iban",
  "titledName",
  "introducedName",
  "firstName",
]);
/**
 * A capital then a lower-case letter ("Claire", "Mme", "Herr", "Łukasz"): every other family of
 * `upperMaster` needs a second capital, digit or "-" there (key prefixes, secret names, NIE,
 * codice fiscale, IBAN), so only the name families can match, and the smaller expression fills
 * fewer groups.
 */
const capitalisedMaster = composeMaster(["titledName", "introducedName", "firstName"]);
/** Lower case and `_`: JWTs, key prefixes, secret names, lower-case titles and introductions. */
const lowerMaster = composeMaster([
  "jwt",
  "apiKey",
  "assignedSecret",
  "titledName",
  "introducedName",
  ...(lowerFirstName ? (["firstName"] as const) : []),
]);

/** IBANs in any case (`fr76 3000 6000 ...`, `De89...`), tried at a word of two letters and two digits. */
const anyCaseIban = /\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}\b/y;

const secretSubtypes: Array<[string, string]> = [
  ["AKIA", "aws_access_key"],
  ["ASIA", "aws_access_key"],
  ["sk-ant-", "anthropic_api_key"],
  ["sk-", "openai_api_key"],
  ["ghp_", "github_token"],
  ["gho_", "github_token"],
  ["ghu_", "github_token"],
  ["ghs_", "github_token"],
  ["ghr_", "github_token"],
  ["github_pat_", "github_token"],
  ["xox", "slack_token"],
  ["AIza", "google_api_key"],
  ["glpat-", "gitlab_token"],
  ["sk_", "stripe_key"],
  ["rk_", "stripe_key"],
  ["hf_", "huggingface_token"],
  ["bst_live_", "bastion_api_key"],
];

function apiKeySubtype(value: string): string {
  for (const [prefix, subtype] of secretSubtypes) if (value.startsWith(prefix)) return subtype;
  return "api_key";
}

/**
 * Builds the one-pass scanner for a policy's enabled detectors. Findings are sorted by position
 * and never overlap (the longer, better-scored one wins).
 */
export function createScanner(options: ScannerOptions): Scanner {
  const on = options.enabled;
  const custom = options.custom ?? [];
  const extra = options.extra ?? [];
  const atWords = custom.map((matcher) => wordStartKeywords(matcher));
  const keywords: WordKeywords | undefined = atWords.some((list) => list !== undefined)
    ? { first: new Uint8Array(65536), pairs: new Set(), pairFilter: new Uint8Array(4096), lists: [] }
    : undefined;
  custom.forEach((matcher, index) => {
    const list = atWords[index];
    if (keywords === undefined || list === undefined) return;
    for (const prefix of matcher.prefixes ?? []) {
      const first = prefix.charCodeAt(0);
      if (prefix.length === 1) keywords.first[first] = 2;
      else {
        if (keywords.first[first] === 0) keywords.first[first] = 1;
        keywords.pairs.add(first * 65536 + prefix.charCodeAt(1));
        keywords.pairFilter[pairSlot(first, prefix.charCodeAt(1))] = 1;
      }
    }
    keywords.lists.push(list);
  });
  const plain = plainPairs(keywords);
  return {
    scan(text, path) {
      const findings = new Findings(on, path);
      const found = findings.found;
      if (keywords !== undefined)
        for (const list of keywords.lists) {
          list.hits.length = 0;
          list.nextAllowed = 0;
        }
      scanMaster(text, findings, keywords, plain);
      if (on.has("person")) addSurnameRecurrences(text, findings);
      if (on.has("email")) scanEmails(text, findings);
      if (on.has("ip_address")) scanIpv6(text, findings);
      for (let index = 0; index < custom.length; index++) {
        const matcher = custom[index] as CustomMatcher;
        const list = atWords[index];
        if (list !== undefined) {
          // Found during the master pass; added here, in the same order as the expression would.
          for (let hit = 0; hit < list.hits.length; hit += 2)
            findings.add("custom", list.hits[hit] as number, list.hits[hit + 1] as string, 1, matcher.name);
          list.hits.length = 0;
          continue;
        }
        matcher.regex.lastIndex = 0;
        for (const match of text.matchAll(matcher.regex)) {
          if (match[0].length === 0) continue;
          // Checked here rather than by a lookbehind, which the engine would evaluate at every position.
          if (matcher.wordBoundary) {
            const before = match.index > 0 ? (text[match.index - 1] as string) : " ";
            const after = text[match.index + match[0].length] ?? " ";
            if (wordLike.test(before) || wordLike.test(after)) continue;
          }
          findings.add("custom", match.index, match[0], 1, matcher.name);
        }
      }
      for (const detector of extra)
        for (const finding of detector.detect(text)) found.push({ ...finding, path });
      return resolveOverlaps(found);
    },
  };
}

const wordLike = /[\p{L}\p{N}_]/u;

/** Where a pair of code units falls in `WordKeywords.pairFilter`. */
const pairSlot = (first: number, second: number) => (first * 64 + second) & 4095;

/** A keyword list the master pass can try at word starts: every possible first character is a letter or digit. */
function wordStartKeywords(matcher: CustomMatcher): WordKeywords["lists"][number] | undefined {
  const prefixes = matcher.prefixes;
  if (!matcher.wordBoundary || prefixes === undefined || prefixes.length === 0) return undefined;
  for (const prefix of prefixes) {
    const kind = wordKind[prefix.charCodeAt(0)];
    if (kind !== LOWER && kind !== UPPER && kind !== DIGIT) return undefined;
  }
  const flags = matcher.regex.flags.replace("g", "");
  return { sticky: new RegExp(matcher.regex.source, `${flags}y`), hits: [], nextAllowed: 0 };
}

/** Whether the code unit at `index` is a letter, digit or "_" (by table for ASCII, the common case). */
function isWordLike(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  if (code < 128) {
    const kind = wordKind[code];
    return kind === LOWER || kind === UPPER || kind === DIGIT;
  }
  return wordLike.test(text[index] as string);
}

/**
 * Tries the keyword lists at `at`, a position whose character a keyword can start with. As a
 * global expression would, a list resumes after its previous match; a match is kept when neither
 * side touches a letter or digit.
 */
function tryKeywords(text: string, at: number, keywords: WordKeywords): void {
  const first = text.charCodeAt(at);
  if (keywords.first[first] === 1) {
    // The pair filter answers most pairs that are no prefix; the set, the few it lets through.
    const second = text.charCodeAt(at + 1);
    if (keywords.pairFilter[pairSlot(first, second)] === 0 || !keywords.pairs.has(first * 65536 + second))
      return;
  }
  if (at > 0 && isWordLike(text, at - 1)) return;
  for (const list of keywords.lists) {
    if (at < list.nextAllowed) continue;
    list.sticky.lastIndex = at;
    const match = list.sticky.exec(text);
    if (match === null || match[0].length === 0) continue;
    const end = at + match[0].length;
    list.nextAllowed = end;
    if (end >= text.length || !isWordLike(text, end)) list.hits.push(at, match[0]);
  }
}

/** Keyword starts inside a span the master expression consumed (a name, a number run, a key block). */
function tryKeywordsWithin(text: string, from: number, to: number, keywords: WordKeywords): void {
  for (let at = from; at < to; at++)
    if (keywords.first[text.charCodeAt(at)] !== 0) tryKeywords(text, at, keywords);
}

const OTHER = 0;
const LOWER = 1;
const UPPER = 2;
const DIGIT = 3;
/** `+` and `(`: may start a phone number. */
const OPENER = 4;
/** `-`: splits words ("Jean-Pierre") and may start a key block. */
const HYPHEN = 5;

/** The kind of every UTF-16 code unit, for the word-level pre-filter. */
const wordKind = new Uint8Array(65536);
for (let code = 0; code < 0x250; code++) {
  const character = String.fromCharCode(code);
  if (code >= 48 && code <= 57) wordKind[code] = DIGIT;
  else if (character.toLowerCase() !== character) wordKind[code] = UPPER;
  else if (character.toUpperCase() !== character || code === 0xdf) wordKind[code] = LOWER;
}
wordKind[95] = LOWER; // "_" continues a word (sk_live_..., DB_PASSWORD)
wordKind[43] = OPENER;
wordKind[40] = OPENER;
wordKind[45] = HYPHEN;

/** A word's letters hashed as the scanner reads them. */
function hashWord(word: string): number {
  let hash = 0;
  for (let index = 0; index < word.length; index++) hash = (Math.imul(hash, 31) + word.charCodeAt(index)) | 0;
  return hash;
}

/** Words after which a match can start: titles, introductions, first names, key prefixes, secret names. */
const triggerWords = [
  ...nameTriggerWords,
  ...firstNames,
  ...["sk", "rk", "ghp", "gho", "ghu", "ghs", "ghr", "github", "xoxa", "xoxb", "xoxp", "xoxr", "xoxs"],
  ...[
    "glpat",
    "hf",
    "bst",
    "eyJ",
    "password",
    "passwd",
    "api",
    "apikey",
    "secret",
    "client",
    "access",
    "auth",
  ],
  "AIza",
];
const triggerHashes = new Set(triggerWords.map(hashWord));
/**
 * 1 at the low 16 bits of every trigger word's hash. About one word in five of European prose
 * shares its first two letters with a trigger word ("pa", "me", "se", "Ma", ...) and is hashed;
 * this lookup turns nearly all of them away before the hash-set lookup, which costs several times
 * more (the set stays the exact test).
 */
const triggerHashFilter = new Uint8Array(65536);
for (const hash of triggerHashes) triggerHashFilter[hash & 0xffff] = 1;

/**
 * The first two characters of the lower-case trigger words: most lower-case words fail this test
 * and are skipped without hashing. A non-ASCII second character makes any word with that first
 * character go the slow way (flag 2 on the first character).
 */
const lowerPrefixes = new Uint8Array(128 * 128);
for (const word of triggerWords) {
  const first = word.charCodeAt(0);
  const second = word.charCodeAt(1);
  if (wordKind[first] !== LOWER || first >= 128) continue;
  if (second < 128) lowerPrefixes[first * 128 + second] = 1;
  else lowerPrefixes[first * 128] = 2;
}

/**
 * The same test for a word that starts with a capital: the first two characters of the trigger
 * words that begin with an ASCII capital, second character up to U+024F ("Cécile"). A capitalised
 * word failing it (most of them: sentence starts, German nouns) skips the hash-set lookup.
 */
const upperPrefixes = new Uint8Array(128 * 0x250);
for (const word of triggerWords) {
  const first = word.charCodeAt(0);
  const second = word.charCodeAt(1);
  if (first < 128 && second < 0x250) upperPrefixes[first * 0x250 + second] = 1;
}

/**
 * Whether a word starting with a capital at `index` may be a trigger word. Words of one letter
 * ("M. Dupont"), a non-ASCII capital or an unusual second character go the slow way.
 */
function maybeUpperTrigger(text: string, index: number): boolean {
  const first = text.charCodeAt(index);
  const second = text.charCodeAt(index + 1);
  if (first >= 128 || !(second < 0x250) || second === 95) return true;
  const kind = wordKind[second];
  if (kind !== LOWER && kind !== UPPER) return true;
  return upperPrefixes[first * 0x250 + second] === 1;
}

/**
 * For an ASCII first and second character (`first * 128 + second`), whether a word starting so
 * can start nothing listed: neither a trigger word nor a keyword of the scanner's lists. 1, a
 * lower-case word (`maybeLowerTrigger` fails): it is skipped whole; 2, a capital then a lower-case
 * letter (`maybeUpperTrigger` fails): only its shape can make it a candidate (a digit, "_" or
 * hyphen and digit after its letters). Most prose words are one or the other, and `scanMaster`
 * decides them with this one lookup (a word with two digits after two letters, an IBAN in any
 * case, still goes the full way).
 */
function plainPairs(keywords: WordKeywords | undefined): Uint8Array {
  const plain = new Uint8Array(128 * 128);
  for (let first = 0; first < 128; first++) {
    const kind = wordKind[first];
    if (kind !== LOWER && kind !== UPPER) continue;
    if (kind === LOWER && lowerPrefixes[first * 128] === 2) continue;
    const keywordFirst = keywords === undefined ? 0 : (keywords.first[first] as number);
    if (keywordFirst === 2) continue;
    for (let second = 0; second < 128; second++) {
      if (keywordFirst === 1 && keywords?.pairs.has(first * 65536 + second)) continue;
      if (kind === LOWER) {
        if (lowerPrefixes[first * 128 + second] !== 1) plain[first * 128 + second] = 1;
      } else if (second >= 97 && second <= 122 && upperPrefixes[first * 0x250 + second] !== 1)
        plain[first * 128 + second] = 2;
    }
  }
  return plain;
}

/** 1 for a code unit that continues a word: a letter, digit or "_" (LOWER, UPPER or DIGIT). */
const wordChar = new Uint8Array(65536);
for (let code = 0; code < 65536; code++) {
  const kind = wordKind[code];
  if (kind === LOWER || kind === UPPER || kind === DIGIT) wordChar[code] = 1;
}

/** Whether a lower-case word starting at `index` may be a trigger word, from its first two characters. */
function maybeLowerTrigger(text: string, index: number): boolean {
  const first = text.charCodeAt(index);
  const second = text.charCodeAt(index + 1);
  if (first >= 128) return true;
  if (second >= 128) return lowerPrefixes[first * 128] === 2;
  return lowerPrefixes[first * 128 + second] === 1 || lowerPrefixes[first * 128] === 2;
}

/**
 * Runs the sticky master expression for the word's first character (see `composeMaster`) at each
 * word that could start a match: a digit run that may hold six digits, `+` or `(`;
 * a word whose letters are followed by a digit, an underscore, or a hyphen and digit (IBAN, codice
 * fiscale, NIE, AWS keys, DB_PASSWORD=); an all-capitals word of six letters or more; a listed word
 * (titles, introductions, first names, key prefixes); two letters and two digits (an IBAN in any
 * case, see `anyCaseIbanAt`). Other words are skipped whole, by a table lookup per character,
 * which is what makes prose cheap.
 */
function scanMaster(
  text: string,
  findings: Findings,
  keywords: WordKeywords | undefined,
  plain: Uint8Array,
): void {
  const length = text.length;
  let index = 0;
  while (index < length) {
    const first = text.charCodeAt(index);
    const kind = wordKind[first] as number;
    if (kind === OTHER) {
      index++;
      continue;
    }
    const wordStart = index;
    if (first < 128) {
      // The common cases in prose, decided by one lookup on the first two characters (see
      // `plainPairs`): a plain lower-case word, skipped whole; a plain capitalised word, skipped
      // unless its letters run into a digit, "_" or hyphen and digit.
      const second = text.charCodeAt(index + 1);
      const plainKind = second < 128 ? plain[first * 128 + second] : 0;
      if (
        plainKind !== 0 &&
        !(wordKind[text.charCodeAt(index + 2)] === DIGIT && wordKind[text.charCodeAt(index + 3)] === DIGIT)
      ) {
        index++;
        if (plainKind === 1) {
          while (wordChar[text.charCodeAt(index)] === 1) index++;
          continue;
        }
        let code = text.charCodeAt(index);
        let next = wordKind[code] as number;
        while ((next === LOWER || next === UPPER) && code !== 95) {
          index++;
          code = text.charCodeAt(index);
          next = wordKind[code] as number;
        }
        if (
          next !== DIGIT &&
          code !== 95 &&
          !(next === HYPHEN && wordKind[text.charCodeAt(index + 1)] === DIGIT)
        ) {
          index = skipRest(text, index, keywords);
          continue;
        }
        // A candidate by its shape: the full way below, from the word's start.
        index = wordStart;
      }
    }
    if (keywords !== undefined && keywords.first[text.charCodeAt(index)] !== 0)
      tryKeywords(text, index, keywords);
    let master: Master;
    if (kind === HYPHEN) {
      index++;
      if (!text.startsWith("-----BEGIN", wordStart)) continue;
      master = hyphenMaster;
    } else if (kind === DIGIT) {
      if (!numberMayStart(text, wordStart)) {
        // Fewer than six digits in the run and no secret name: nothing starts in this word.
        index = skipWord(text, wordStart + 1);
        continue;
      }
      master = digitMaster;
    } else if (kind === OPENER) {
      master = openerMaster;
    } else {
      // A letter or "_". Two letters and two digits may be an IBAN written in lower or mixed case.
      if (wordKind[text.charCodeAt(index + 2)] === DIGIT && wordKind[text.charCodeAt(index + 3)] === DIGIT) {
        const end = anyCaseIbanAt(text, wordStart, findings);
        if (end > 0) {
          index = end;
          if (keywords !== undefined) tryKeywordsWithin(text, wordStart + 1, index, keywords);
          continue;
        }
      }
      if (kind === LOWER && !maybeLowerTrigger(text, index)) {
        // The common case in prose: a lower-case word that cannot start a match. One lookup per character.
        index++;
        for (;;) {
          const inner = wordKind[text.charCodeAt(index)];
          if (inner !== LOWER && inner !== UPPER && inner !== DIGIT) break;
          index++;
        }
        continue;
      }
      // Past the prefix tests above a lower-case word may be listed; a capitalised one is tested here.
      const listed = kind === LOWER || maybeUpperTrigger(text, index);
      let hash = 0;
      let capitals = 0;
      let code = text.charCodeAt(index);
      let next = wordKind[code] as number;
      // "_" ends the hashed part (sk_live_..., ghp_...); a word with one in it is a candidate anyway.
      while ((next === LOWER || next === UPPER) && code !== 95) {
        hash = (Math.imul(hash, 31) + code) | 0;
        if (next === UPPER) capitals++;
        index++;
        code = text.charCodeAt(index);
        next = wordKind[code] as number;
      }
      const letters = index - wordStart;
      const candidate =
        next === DIGIT ||
        code === 95 ||
        (next === HYPHEN && wordKind[text.charCodeAt(index + 1)] === DIGIT) ||
        (capitals === letters && letters >= 6) ||
        (listed &&
          ((triggerHashFilter[hash & 0xffff] === 1 && triggerHashes.has(hash)) ||
            text.startsWith("eyJ", wordStart)));
      if (!candidate) {
        index = skipRest(text, index, keywords);
        continue;
      }
      if (kind === UPPER) {
        const second = text.charCodeAt(wordStart + 1);
        master = wordKind[second] === LOWER && second !== 95 ? capitalisedMaster : upperMaster;
      } else master = lowerMaster;
    }
    master.regex.lastIndex = wordStart;
    const match = master.regex.exec(text);
    if (match === null) {
      // Nothing starts here; nothing starts inside this word either (every alternative needs a
      // word boundary), except after a + or ( within it.
      index = wordStart + 1;
      if (keywords !== undefined && kind === OPENER) tryKeywordsWithin(text, index, index + 1, keywords);
      index = skipWord(text, index);
      continue;
    }
    index = master.regex.lastIndex;
    if (keywords !== undefined) tryKeywordsWithin(text, wordStart + 1, index, keywords);
    handleMatch(text, match, master.groups, findings);
  }
}

/**
 * The end of a word that is no candidate, from `index` in it: digits and underscores included, up
 * to a separator or "-". A "+" or "(" inside is skipped too, but a keyword may start after it.
 */
function skipRest(text: string, index: number, keywords: WordKeywords | undefined): number {
  const length = text.length;
  while (index < length) {
    const inner = wordKind[text.charCodeAt(index)];
    if (inner === OTHER || inner === HYPHEN) break;
    if (inner === OPENER && keywords !== undefined) tryKeywordsWithin(text, index + 1, index + 2, keywords);
    index++;
  }
  return index;
}

/** The end of the word `index` is in: the next separator, `+`, `(` or `-`. */
function skipWord(text: string, index: number): number {
  const length = text.length;
  while (index < length) {
    const inner = wordKind[text.charCodeAt(index)] as number;
    if (inner === OTHER || inner === OPENER || inner === HYPHEN) break;
    index++;
  }
  return index;
}

const isDigitCode = (code: number) => code >= 48 && code <= 57;
/** The separators a number run may have between two digits (up to two in a row), as in `number`. */
const isNumberSeparator = (code: number) =>
  code === 32 || code === 46 || code === 45 || code === 47 || code === 40 || code === 41;

/**
 * Whether the digit expression can match at `start`, a digit: the number family needs six digits
 * with at most two separators between two of them (the Corsican NIR as well, `2A` counting its
 * 2), and the secret-name one a capital or "_" after the leading digits (`2FA_SECRET=`). Most
 * digit words in prose (a year, a time, an amount) fail this without running the expression.
 */
function numberMayStart(text: string, start: number): boolean {
  let at = start;
  let digits = 0;
  while (isDigitCode(text.charCodeAt(at))) {
    at++;
    digits++;
  }
  const after = text.charCodeAt(at);
  if ((after >= 65 && after <= 90) || after === 95) return true;
  while (digits < 6) {
    let separators = 0;
    while (separators < 2 && isNumberSeparator(text.charCodeAt(at))) {
      at++;
      separators++;
    }
    if (!isDigitCode(text.charCodeAt(at))) return false;
    while (isDigitCode(text.charCodeAt(at))) {
      at++;
      digits++;
    }
  }
  return true;
}

/**
 * An IBAN with a lower-case letter in it (`fr76 3000 6000 0112 3456 7890 189`, `De89...`), at a word
 * of two letters and two digits: normalised to upper case, then mod-97 and ibantools as any other.
 * Returns the end of the IBAN it added, or 0 (then the word is scanned as usual: an all-capitals
 * IBAN is the master expression's, and a failing candidate swallows nothing).
 */
function anyCaseIbanAt(text: string, start: number, findings: Findings): number {
  // A candidate is at most 44 letters, digits and spaces from `start`: with no lower-case letter
  // among those it is all capitals (the master expression's), and the expression need not run.
  if (!hasLowerAscii(text, start, Math.min(text.length, start + 44), true)) return 0;
  anyCaseIban.lastIndex = start;
  const match = anyCaseIban.exec(text);
  if (match === null) return 0;
  const candidate = match[0];
  if (!hasLowerAscii(candidate, 0, candidate.length, false)) return 0;
  const value = longestIban(candidate);
  if (value === undefined) return 0;
  findings.add("iban", start, value, 1);
  return start + value.length;
}

/**
 * Whether `text` has an a-z letter in [from, to); with `stopAtOther`, the search ends at the first
 * character that is not an ASCII letter, digit or space (an IBAN candidate cannot go past it).
 */
function hasLowerAscii(text: string, from: number, to: number, stopAtOther: boolean): boolean {
  for (let at = from; at < to; at++) {
    const code = text.charCodeAt(at);
    if (code >= 97 && code <= 122) return true;
    if (stopAtOther && !(code === 32 || (code >= 48 && code <= 57) || (code >= 65 && code <= 90)))
      return false;
  }
  return false;
}

function handleMatch(
  text: string,
  match: RegExpExecArray,
  groups: ReadonlyArray<[Family, number]>,
  findings: Findings,
): void {
  const start = match.index;
  const whole = match[0];
  let family: Family | undefined;
  let group = 0;
  for (let entry = 0; entry < groups.length; entry++) {
    const [candidate, index] = groups[entry] as [Family, number];
    if (match[index] !== undefined) {
      family = candidate;
      group = index;
      break;
    }
  }
  switch (family) {
    case "privateKey":
      findings.add("secret", start, whole, 1, "private_key");
      break;
    case "jwt":
      findings.add("secret", start, whole, 0.95, "jwt");
      break;
    case "apiKey":
      findings.add("secret", start, whole, 0.95, apiKeySubtype(whole));
      break;
    case "assignedSecret": {
      const value = match[group] as string;
      findings.add("secret", start + whole.length - value.length, value, 0.8, "assigned_secret");
      break;
    }
    case "nie":
      if (isNationalId("es_nie", whole.replaceAll("-", "")))
        findings.add("national_id", start, whole, 1, "es_nie");
      break;
    case "fiscalCode":
      if (isNationalId("it_codice_fiscale", whole))
        findings.add("national_id", start, whole, 1, "it_codice_fiscale");
      break;
    case "iban": {
      const value = longestIban(whole);
      // An uppercase token that fails mod-97 holds nothing else we detect.
      if (value !== undefined) findings.add("iban", start, value, 1);
      break;
    }
    case "nirCorsica":
      if (isNationalId("fr_nir", whole.replaceAll(" ", "")))
        findings.add("national_id", start, whole, 1, "fr_nir");
      break;
    case "number":
      classifyNumber(text, start, match[group] as string, match[group + 1], findings);
      break;
    case "titledName": {
      const name = match[group] as string;
      findings.add("person", start + whole.length - name.length, name, 0.8, "titled");
      break;
    }
    case "introducedName": {
      const name = match[group] as string;
      findings.add("person", start + whole.length - name.length, name, 0.8, "introduced");
      break;
    }
    case "firstName":
      findings.add("person", start, whole, 0.6, "first_name");
      break;
  }
}

/** An IBAN candidate may run into the next word; try it shorter, one group at a time. */
function longestIban(candidate: string): string | undefined {
  let end = candidate.length;
  for (;;) {
    if (isWrittenIbanPrefix(candidate, end))
      return end === candidate.length ? candidate : candidate.slice(0, end);
    const space = candidate.lastIndexOf(" ", end - 1);
    if (space < 0 || end <= 15) return undefined;
    end = space;
  }
}

/**
 * A surname announced once ("Mme Lefèvre", "Claire Martin") is often written alone later in the
 * same text ("Lefèvre a rappelé"): each later whole-word occurrence is a person too.
 */
function addSurnameRecurrences(text: string, findings: Findings): void {
  const surnames = new Set<string>();
  for (const detection of findings.found) {
    if (detection.type !== "person") continue;
    const surname = detection.value.slice(detection.value.lastIndexOf(" ") + 1);
    if (surname.length >= 3) surnames.add(surname);
  }
  if (surnames.size === 0) return;
  // One pass for all of them (a long document names many people), word edges checked here.
  const pattern = new RegExp(
    [...surnames].map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"),
    "g",
  );
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const start = match.index;
    const end = start + match[0].length;
    // Overlaps with the announcing detection itself are dropped by resolveOverlaps.
    if ((start === 0 || !isWordLike(text, start - 1)) && (end >= text.length || !isWordLike(text, end)))
      findings.add("person", start, match[0], 0.5, "recurrence");
  }
}

/** Sorted by start; where two findings overlap, the longer one stays (then the better score). */
function resolveOverlaps(found: Detection[]): Detection[] {
  if (found.length < 2) return found;
  const sorted = sortFindings(found);
  const kept: Detection[] = [];
  for (const finding of sorted) {
    const previous = kept[kept.length - 1];
    if (previous === undefined || finding.start >= previous.end) kept.push(finding);
    else if (finding.end - finding.start > previous.end - previous.start) kept[kept.length - 1] = finding;
  }
  return kept;
}

/** The findings' order: by start, the longer first, then the better score (0: equal, keep their order). */
function compareFindings(a: Detection, b: Detection): number {
  return a.start - b.start || b.end - a.end || b.score - a.score;
}

/**
 * `found` in `compareFindings` order, as a stable sort gives it. The detectors each add theirs in
 * text order, so `found` is a few sorted runs one after the other (the master pass, recurrences,
 * emails, ...): they are merged, left run first on ties, instead of a sort calling its comparator
 * through the engine's generic sort.
 */
function sortFindings(found: Detection[]): Detection[] {
  let runs: Detection[][] = [];
  let runStart = 0;
  for (let index = 1; index <= found.length; index++)
    if (
      index === found.length ||
      compareFindings(found[index - 1] as Detection, found[index] as Detection) > 0
    ) {
      runs.push(runStart === 0 && index === found.length ? found : found.slice(runStart, index));
      runStart = index;
    }
  while (runs.length > 1) {
    const merged: Detection[][] = [];
    for (let run = 0; run + 1 < runs.length; run += 2)
      merged.push(mergeFindings(runs[run] as Detection[], runs[run + 1] as Detection[]));
    if (runs.length % 2 === 1) merged.push(runs[runs.length - 1] as Detection[]);
    runs = merged;
  }
  return runs[0] as Detection[];
}

/** Two sorted runs as one; on a tie the left run's finding comes first (a stable merge). */
function mergeFindings(left: Detection[], right: Detection[]): Detection[] {
  const merged: Detection[] = [];
  let l = 0;
  let r = 0;
  while (l < left.length && r < right.length) {
    if (compareFindings(right[r] as Detection, left[l] as Detection) < 0)
      merged.push(right[r++] as Detection);
    else merged.push(left[l++] as Detection);
  }
  while (l < left.length) merged.push(left[l++] as Detection);
  while (r < right.length) merged.push(right[r++] as Detection);
  return merged;
}
