import type { Findings } from "./scanner.ts";
import type { DetectorType } from "./types.ts";
import {
  isIpv4,
  isNationalId,
  isPaymentCard,
  type NationalIdKind,
  numericIdsByLength,
} from "./validators.ts";

/** Words after which a bare digit run is a phone number (no trunk 0, no +): Presidio's context words. */
const phoneContext =
  /\b(?:t[ée]l(?:[ée]phone|efon|efono|éfono|efoon)?|portable|mobile?|cellulare|cell|m[óo]vil|handy|phone|rufnummer|kom[óo]rk[aię]|bel(?:len)?|llame|chiamare|appeler)\W{0,12}$/i;

/**
 * The digit groups of the run being classified, as offsets into the run: module-level and reused
 * (classification is synchronous), so a run allocates no object or string per group.
 */
const groupStarts: number[] = [];
const groupEnds: number[] = [];
/** Where each group's digits begin in `runDigits`. */
const digitStarts: number[] = [];
let runText = "";
let runCount = 0;
/**
 * The run's digits without separators, made at most once per run and only when a check needs a
 * string (a national identifier, a card, a DNI): each span of groups tried is one slice of it. A
 * phone number, a date or an amount is decided on the run's char codes and builds none.
 */
let runDigits: string | undefined;

/** The digits of groups `first` to `last` (`length` of them) as a string. */
function spanDigits(first: number, length: number): string {
  if (runDigits === undefined) {
    runDigits = runText.slice(groupStarts[0] as number, groupEnds[0] as number);
    for (let group = 1; group < runCount; group++)
      runDigits += runText.slice(groupStarts[group] as number, groupEnds[group] as number);
  }
  const from = digitStarts[first] as number;
  return from === 0 && length === runDigits.length ? runDigits : runDigits.slice(from, from + length);
}

/** The char code of the `offset`-th digit of the span starting at group `first` (`offset` below its length). */
function spanDigitAt(first: number, offset: number): number {
  let group = first;
  let rest = offset;
  for (;;) {
    const size = (groupEnds[group] as number) - (groupStarts[group] as number);
    if (rest < size) return runText.charCodeAt((groupStarts[group] as number) + rest);
    rest -= size;
    group++;
  }
}

/** The separator text between group `group - 1` and `group` (a run's separators: space . - / ( )). */
const separatorBefore = (group: number) =>
  runText.slice(groupEnds[group - 1] as number, groupStarts[group] as number);

/** Whether the separator before `group` is the one character `code`. */
function singleSeparator(group: number, code: number): boolean {
  const end = groupEnds[group - 1] as number;
  return (groupStarts[group] as number) - end === 1 && runText.charCodeAt(end) === code;
}

/** Whether the separator before `group` has a space in it (the only whitespace a run can hold). */
function spaceBefore(group: number): boolean {
  for (let index = groupEnds[group - 1] as number; index < (groupStarts[group] as number); index++)
    if (runText.charCodeAt(index) === 32) return true;
  return false;
}

/**
 * A run of digits with separators may hold one identifier or several ("call 06 12 34 56 78 or
 * 01 23 45 67 89" is one run when the "or" is a comma). Tries the whole run, then shorter runs
 * from the left, cut only at whitespace, and goes on only after a recognised value: a run that
 * does not start with one (a card number failing Luhn, an order number) is not searched inside,
 * or its pieces would pass for phone numbers and 9-digit BSNs.
 */
export function classifyNumber(
  text: string,
  start: number,
  run: string,
  letter: string | undefined,
  findings: Findings,
): void {
  runText = run;
  let count = 0;
  let groupStart = -1;
  let digitCount = 0;
  for (let index = 0; index <= run.length; index++) {
    const code = index < run.length ? run.charCodeAt(index) : -1;
    const isDigit = code >= 48 && code <= 57;
    if (isDigit && groupStart < 0) groupStart = index;
    else if (!isDigit && groupStart >= 0) {
      groupStarts[count] = groupStart;
      groupEnds[count] = index;
      digitStarts[count] = digitCount;
      digitCount += index - groupStart;
      count++;
      groupStart = -1;
    }
  }
  runCount = count;
  runDigits = undefined;
  const plus = run.startsWith("+") || run.startsWith("(+");
  const maxSpan = 12;
  let first = 0;
  while (first < count) {
    let taken = false;
    for (let last = Math.min(count - 1, first + maxSpan); last >= first; last--) {
      const atEnd = last === count - 1;
      if (!atEnd && !spaceBefore(last + 1)) continue;
      const kind = classifyDigits(text, start, first, last, first === 0 && plus, atEnd ? letter : undefined);
      if (kind === undefined) continue;
      const from = first === 0 && plus ? start : start + (groupStarts[first] as number);
      const to =
        atEnd && kind.withLetter
          ? start + run.length + (text[start + run.length] === "-" ? 2 : 1)
          : start + (groupEnds[last] as number);
      findings.add(kind.type, from, text.slice(from, to), kind.score, kind.subtype);
      first = last + 1;
      taken = true;
      break;
    }
    if (!taken) return;
  }
}

interface Kind {
  type: DetectorType;
  subtype?: string;
  score: number;
  withLetter?: boolean;
}

// Shared, never mutated: a classification allocates nothing of its own.
const DNI: Kind = { type: "national_id", subtype: "es_dni", score: 1, withLetter: true };
const IPV4: Kind = { type: "ip_address", subtype: "ipv4", score: 0.9 };
const CARD: Kind = { type: "payment_card", score: 1 };
const E164: Kind = { type: "phone", subtype: "e164", score: 0.9 };
const INTERNATIONAL: Kind = { type: "phone", subtype: "international", score: 0.85 };
const NATIONAL: Kind = { type: "phone", subtype: "national", score: 0.8 };
const NATIONAL_BY_SHAPE: Kind = { type: "phone", subtype: "national", score: 0.6 };
const NATIONAL_IDS = new Map<NationalIdKind, Kind>(
  (
    [
      "fr_nir",
      "es_dni",
      "es_nie",
      "it_codice_fiscale",
      "de_steuer_id",
      "nl_bsn",
      "be_national_number",
      "pl_pesel",
    ] as const
  ).map((subtype) => [subtype, { type: "national_id", subtype, score: 1 }]),
);
const BELGIAN: readonly NationalIdKind[] = ["be_national_number"];
const NONE: readonly NationalIdKind[] = [];

function classifyDigits(
  text: string,
  start: number,
  first: number,
  last: number,
  plus: boolean,
  letter: string | undefined,
): Kind | undefined {
  const length =
    (digitStarts[last] as number) +
    (groupEnds[last] as number) -
    (groupStarts[last] as number) -
    (digitStarts[first] as number);
  if (letter !== undefined && length === 8 && isNationalId("es_dni", spanDigits(first, length) + letter))
    return DNI;
  // Three single dots: the run from the first group to the fourth is the dotted quad itself.
  if (
    last - first === 3 &&
    singleSeparator(first + 1, 46) &&
    singleSeparator(first + 2, 46) &&
    singleSeparator(first + 3, 46) &&
    isIpv4(runText.slice(groupStarts[first] as number, groupEnds[last] as number))
  )
    return IPV4;
  if (!plus) {
    // The Belgian layout (YY.MM.DD-SSS.CC) names its kind; an 11-digit run in it is not a PESEL by chance.
    const belgian =
      last - first === 4 &&
      singleSeparator(first + 1, 46) &&
      singleSeparator(first + 2, 46) &&
      singleSeparator(first + 3, 45) &&
      singleSeparator(first + 4, 46);
    const kinds: readonly NationalIdKind[] = belgian ? BELGIAN : (numericIdsByLength[length] ?? NONE);
    for (const kind of kinds)
      if (isNationalId(kind, spanDigits(first, length))) return NATIONAL_IDS.get(kind);
    if (length >= 13 && isPaymentCard(spanDigits(first, length))) return CARD;
  }
  return phoneKind(text, start + (groupStarts[first] as number), first, last, length, plus);
}

/**
 * Groupings in which Spanish, Polish and Italian numbers are written without a trunk 0: ES
 * 612 345 678 / 612 34 56 78 / 91 123 45 67, PL 600 700 800 / 22 123 45 67, IT mobile
 * 347 123 4567 / 347 1234567. Digit-group lengths, with the first digits they may start with.
 */
const nationalShapes: ReadonlyArray<{ shape: string; lowest: number; highest: number }> = [
  { shape: "3-3-3", lowest: 4, highest: 9 },
  { shape: "3-2-2-2", lowest: 6, highest: 9 },
  { shape: "2-3-2-2", lowest: 1, highest: 9 },
  { shape: "3-3-4", lowest: 3, highest: 3 },
  { shape: "3-7", lowest: 3, highest: 3 },
];

/** Group lengths ("3-3-3") when the groups are separated by single spaces or single dots only. */
function shapeOf(first: number, last: number): string {
  const separator = last > first ? separatorBefore(first + 1) : "";
  if (separator !== " " && separator !== ".") return "";
  const lengths: number[] = [];
  for (let index = first; index <= last; index++) {
    if (index > first && separatorBefore(index) !== separator) return "";
    lengths.push((groupEnds[index] as number) - (groupStarts[index] as number));
  }
  return lengths.join("-");
}

function phoneKind(
  text: string,
  /** Offset of the first group's first digit in the text. */
  at: number,
  first: number,
  last: number,
  /** How many digits the span has (one or more). */
  length: number,
  plus: boolean,
): Kind | undefined {
  const leading = spanDigitAt(first, 0);
  if (plus) {
    // E.164: country code and subscriber number, 8 to 15 digits, never starting with 0.
    if (length >= 8 && length <= 15 && leading !== 48) return E164;
    return undefined;
  }
  if (leading === 48 && length >= 2 && spanDigitAt(first, 1) === 48) {
    if (length >= 10 && length <= 17 && spanDigitAt(first, 2) !== 48) return INTERNATIONAL;
    return undefined;
  }
  // National formats: a trunk 0 then 9 to 11 digits (FR, DE, NL, BE, AT, IT landlines); without it
  // (ES, IT mobiles, PL) only after a word such as "tel." so that order and invoice numbers stay out.
  if (leading === 48 && length >= 10 && length <= 12) return NATIONAL;
  if (length < 9 || length > 11) return undefined;
  if (phoneContext.test(text.slice(Math.max(0, at - 30), at))) return NATIONAL;
  const shape = shapeOf(first, last);
  // A round number ("500 000 000") is an amount, not a phone.
  if (
    shape !== "" &&
    !(
      spanDigitAt(first, length - 1) === 48 &&
      spanDigitAt(first, length - 2) === 48 &&
      spanDigitAt(first, length - 3) === 48
    ) &&
    nationalShapes.some(
      (entry) => entry.shape === shape && leading - 48 >= entry.lowest && leading - 48 <= entry.highest,
    )
  )
    return NATIONAL_BY_SHAPE;
  return undefined;
}
