import { isIPv4, isIPv6 } from "node:net";
import { isValidBBAN } from "ibantools";

/**
 * Checksum and structure checks that turn a candidate into a detection. A candidate that fails
 * its check is not personal data as far as Bastion is concerned (an order number that merely
 * looks like an identifier), so every check here must be strict.
 */

/** Luhn (ISO/IEC 7812) over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index--) {
    let digit = digits.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A payment card number: 13 to 19 digits, a known issuer prefix, and a valid Luhn digit. */
export function isPaymentCard(digits: string): boolean {
  const length = digits.length;
  if (length < 13 || length > 19) return false;
  // Luhn refuses any non-digit, so a number whose first four characters are not digits fails anyway.
  if (!digitsIn(digits, 0, 4)) return false;
  const two = digitAt(digits, 0) * 10 + digitAt(digits, 1);
  const four = two * 100 + digitAt(digits, 2) * 10 + digitAt(digits, 3);
  const issuer =
    digits[0] === "4" || // Visa
    (two >= 51 && two <= 55) || // Mastercard
    (four >= 2221 && four <= 2720) || // Mastercard 2-series
    ((two === 34 || two === 37) && length === 15) || // American Express
    four === 6011 ||
    two === 65 || // Discover
    (four >= 3528 && four <= 3589) || // JCB
    two === 36 ||
    two === 38 || // Diners
    two === 62 || // UnionPay
    (four >= 5018 && four <= 5020) ||
    four === 5038 ||
    four === 6304 ||
    four === 6759 ||
    four === 6761 ||
    four === 6763; // Maestro
  return issuer && luhnValid(digits);
}

/**
 * An IBAN in electronic format (no spaces), in any case (`fr76...` is normalised to `FR76...`
 * first): mod-97, then country structure by `ibantools`.
 */
export function isIban(written: string): boolean {
  const compact = written.toUpperCase();
  // ibantools checks the country's length, BBAN structure and national check digits; its own
  // mod-97 (string-based) would repeat the arithmetic one just done.
  const tens = compact.charCodeAt(2);
  const units = compact.charCodeAt(3);
  return (
    tens >= 48 &&
    tens <= 57 &&
    units >= 48 &&
    units <= 57 &&
    ibanMod97(compact) &&
    isValidBBAN(compact.slice(4), compact.slice(0, 2))
  );
}

/**
 * Whether the first `end` characters of `candidate`, an IBAN as written (`FR76 3000 6000 ...`: the
 * first four characters unspaced, then letters and digits in either case with single spaces), are
 * an IBAN. Mod-97 runs on the written form, so no string is made unless it passes (a candidate
 * that ran into the next word is tried at several lengths, and most tries fail).
 */
export function isWrittenIbanPrefix(candidate: string, end: number): boolean {
  const tens = candidate.charCodeAt(2);
  const units = candidate.charCodeAt(3);
  if (!(tens >= 48 && tens <= 57 && units >= 48 && units <= 57)) return false;
  let length = 0;
  for (let index = 0; index < end; index++) if (candidate.charCodeAt(index) !== 32) length++;
  if (length < 15 || length > 34) return false;
  // The rearranged IBAN: the BBAN, then the country code and check digits.
  let remainder = 0;
  for (let index = 4; index < end && remainder >= 0; index++)
    remainder = mod97Step(remainder, candidate, index);
  for (let index = 0; index < 4 && remainder >= 0; index++)
    remainder = mod97Step(remainder, candidate, index);
  if (remainder !== 1) return false;
  const compact = candidate.slice(0, end).replaceAll(" ", "").toUpperCase();
  return isValidBBAN(compact.slice(4), compact.slice(0, 2));
}

/** One character of mod-97 (a space skipped, a letter in either case as 10-35), or -1 for one an IBAN cannot hold. */
function mod97Step(remainder: number, text: string, index: number): number {
  let code = text.charCodeAt(index);
  if (code === 32) return remainder;
  if (code >= 48 && code <= 57) return (remainder * 10 + code - 48) % 97;
  if (code >= 97 && code <= 122) code -= 32;
  if (code >= 65 && code <= 90) return (remainder * 100 + code - 55) % 97;
  return -1;
}

/** ISO 13616 mod-97 over the rearranged IBAN, digit by digit: a cheap first filter before ibantools. */
function ibanMod97(compact: string): boolean {
  if (compact.length < 15 || compact.length > 34) return false;
  let remainder = 0;
  for (let step = 0; step < compact.length; step++) {
    const code = compact.charCodeAt((step + 4) % compact.length);
    if (code >= 48 && code <= 57) remainder = (remainder * 10 + code - 48) % 97;
    else if (code >= 65 && code <= 90) remainder = (remainder * 100 + code - 55) % 97;
    else return false;
  }
  return remainder === 1;
}

export function isIpv4(text: string): boolean {
  return isIPv4(text);
}

/** IPv6, excluding forms that are more likely times or ratios than addresses (fewer than 3 groups and no `::`). */
export function isIpv6(text: string): boolean {
  if (!text.includes("::") && text.split(":").length < 4) return false;
  return isIPv6(text);
}

export type NationalIdKind =
  | "fr_nir"
  | "es_dni"
  | "es_nie"
  | "it_codice_fiscale"
  | "de_steuer_id"
  | "nl_bsn"
  | "be_national_number"
  | "pl_pesel";

const digitAt = (text: string, index: number) => text.charCodeAt(index) - 48;
/** Whether `text` has only ASCII digits in [from, to), and at least one (as /^\d+$/ on that slice). */
function digitsIn(text: string, from: number, to: number): boolean {
  if (to > text.length) to = text.length;
  if (from >= to) return false;
  for (let index = from; index < to; index++) {
    const code = text.charCodeAt(index);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
const allDigits = (text: string) => digitsIn(text, 0, text.length);
/** The number the `count` digits from `from` spell (the caller has checked they are digits). */
function numberAt(text: string, from: number, count: number): number {
  let value = 0;
  for (let index = from; index < from + count; index++) value = value * 10 + digitAt(text, index);
  return value;
}
const dniLetters = "TRWAGMYFPDXBNJZSQVHLCKE";
/** Codice fiscale values of odd-position characters, by rank (digit value, or letter's place in A-Z; digits 0-9 weigh as A-J). */
const fiscalOdd = [
  1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];
/** stdnum's structure of a codice fiscale (omocodia letters in the digit places, a month letter). */
const fiscalShape =
  /^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/;

/** Whether day/month/year is a calendar date (Gregorian leap years). */
function calendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days =
    month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/**
 * The Belgian national number as stdnum's `be.nn` rules it: YYMMDD a real date in 1900-2099
 * not after tomorrow (or an unknown date: month 00, or 000001, 002001, 004001), and the check
 * number making the first nine digits (with a 2 in front for the 2000s) a multiple of 97.
 */
function belgianNationalNumber(value: string): boolean {
  if (value.length !== 11 || !allDigits(value)) return false;
  const body = numberAt(value, 0, 9);
  const check = numberAt(value, 9, 2);
  if (body === 0 && check === 0) return false;
  const yy = numberAt(value, 0, 2);
  const month = numberAt(value, 2, 2);
  const day = numberAt(value, 4, 2);
  // Month 00, or the first six digits 000001, 002001 or 004001.
  const unknownDate = month === 0 || (yy === 0 && day === 1 && (month === 20 || month === 40));
  // stdnum compares a date with "now plus one day", parsed as UTC midnight.
  const latest = Date.now() + 86_400_000;
  for (const century of [1900, 2000]) {
    const year = century + yy;
    if (unknownDate) {
      if (Date.UTC(year, 0, 1) > latest) continue;
    } else if (!calendarDate(year, month, day) || Date.UTC(year, month - 1, day) > latest) continue;
    if (((year < 2000 ? body : 2_000_000_000 + body) + check) % 97 === 0) return true;
  }
  return false;
}

/**
 * Each kind's whole rule in plain arithmetic, restating stdnum's validator (checksum, length,
 * components, birth date where stdnum checks one). stdnum itself reports a failure by building an
 * exception object and cleans the input first, which costs far more than the arithmetic; the
 * property tests in detectors.test.ts keep stdnum as the oracle for every kind.
 */
const checks: Record<NationalIdKind, (value: string) => boolean> = {
  // 13 digits (Corsica's 2A/2B counted as 19/18) modulo 97, then 97 minus that as the last two.
  fr_nir: (value) => {
    if (value.length !== 15 || !digitsIn(value, 0, 5) || !digitsIn(value, 7, 15)) return false;
    const tens = value.charCodeAt(5);
    const units = value.charCodeAt(6);
    const department =
      tens === 50 && units === 65 // 2A
        ? 19
        : tens === 50 && units === 66 // 2B
          ? 18
          : digitsIn(value, 5, 7)
            ? numberAt(value, 5, 2)
            : -1;
    if (department < 0) return false;
    // The 13 digits modulo 97, exactly as the number they spell (below 2^53).
    const sum = (numberAt(value, 0, 5) * 1e8 + department * 1e6 + numberAt(value, 7, 6)) % 97;
    return 97 - sum === numberAt(value, 13, 2);
  },
  es_dni: (value) =>
    value.length === 9 &&
    allDigits(value.slice(0, 8)) &&
    dniLetters[Number(value.slice(0, 8)) % 23] === value[8]?.toUpperCase(),
  es_nie: (value) => {
    const prefix = "XYZ".indexOf(value[0]?.toUpperCase() ?? "");
    const body = `${prefix}${value.slice(1, 8)}`;
    return (
      value.length === 9 &&
      prefix >= 0 &&
      allDigits(body) &&
      dniLetters[Number(body) % 23] === value[8]?.toUpperCase()
    );
  },
  it_codice_fiscale: (value) => {
    const upper = value.toUpperCase();
    if (!fiscalShape.test(upper)) return false;
    let sum = 0;
    for (let index = 0; index < 15; index++) {
      const code = upper.charCodeAt(index);
      const rank = code <= 57 ? code - 48 : code - 65;
      sum += index % 2 === 0 ? (fiscalOdd[rank] as number) : rank;
    }
    return upper.charCodeAt(15) === 65 + (sum % 26);
  },
  de_steuer_id: (value) => {
    if (value.length !== 11 || value[0] === "0" || !allDigits(value)) return false;
    if (!steuerIdDigitsValid(value)) return false;
    let product = 10;
    for (let index = 0; index < 10; index++) {
      let sum = (digitAt(value, index) + product) % 10;
      if (sum === 0) sum = 10;
      product = (sum * 2) % 11;
    }
    return (11 - product) % 10 === digitAt(value, 10);
  },
  nl_bsn: (value) => {
    if (value.length !== 9 || !allDigits(value)) return false;
    let sum = -digitAt(value, 8);
    for (let index = 0; index < 8; index++) sum += digitAt(value, index) * (9 - index);
    return sum % 11 === 0;
  },
  be_national_number: belgianNationalNumber,
  pl_pesel: (value) => {
    if (value.length !== 11 || !allDigits(value)) return false;
    // The month carries the century (+20 for 2000-2099, ...): month mod 20 is 1-12, day 1-31.
    const encoded = numberAt(value, 2, 2);
    const month = encoded % 20;
    const day = numberAt(value, 4, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31) return false;
    let sum = 0;
    for (let index = 0; index < 10; index++) sum += digitAt(value, index) * (peselWeights[index] as number);
    if ((10 - (sum % 10)) % 10 !== digitAt(value, 10)) return false;
    // stdnum's rule: a real calendar date in the century the month encodes, not in the future.
    const century =
      encoded >= 80 ? 1800 : encoded >= 60 ? 2200 : encoded >= 40 ? 2100 : encoded >= 20 ? 2000 : 1900;
    const year = century + numberAt(value, 0, 2);
    const date = new Date(year, month - 1, day);
    return date.getMonth() === month - 1 && date.getDate() === day && date.getTime() <= Date.now();
  },
};

const peselWeights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
/** Reused by `steuerIdDigitsValid` (synchronous), so that a check allocates nothing. */
const digitCounts = new Uint8Array(10);

/**
 * The Steuer-ID's component rule as stdnum states it: among the first ten digits, counting how
 * often each repeated digit occurs (in digit order), the number is refused unless exactly one
 * digit repeats, when the first repeated digit occurs two or three times.
 */
function steuerIdDigitsValid(value: string): boolean {
  const counts = digitCounts.fill(0);
  for (let index = 0; index < 10; index++) {
    const digit = digitAt(value, index);
    counts[digit] = (counts[digit] as number) + 1;
  }
  let repeated = 0;
  let firstRepeat = 0;
  for (let digit = 0; digit < 10; digit++) {
    const count = counts[digit] as number;
    if (count > 1) {
      if (repeated === 0) firstRepeat = count;
      repeated++;
    }
  }
  return !(repeated !== 1 && (firstRepeat === 2 || firstRepeat === 3));
}

/** Validates a compact (separator-free) national identifier of the given kind with its checksum. */
export function isNationalId(kind: NationalIdKind, compact: string): boolean {
  // stdnum's BSN also accepts 8 digits (a leading zero dropped); a bare 8-digit number is too common to flag.
  if (kind === "nl_bsn" && compact.length !== 9) return false;
  return checks[kind](compact);
}

/** National identifiers that are all digits, by length, in the order they are tried. */
export const numericIdsByLength: Readonly<Record<number, readonly NationalIdKind[]>> = {
  9: ["nl_bsn"],
  11: ["pl_pesel", "be_national_number", "de_steuer_id"],
  15: ["fr_nir"],
};
