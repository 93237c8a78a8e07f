import { isIPv4, isIPv6 } from "node:net";
import { isValidIBAN } from "ibantools";
import { stdnum, type Validator } from "stdnum";

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
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
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

/** An IBAN in electronic format (no spaces): country structure and mod-97, by `ibantools`. */
export function isIban(compact: string): boolean {
  return isValidIBAN(compact);
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

/** A stdnum validator, looked up once at start-up so that a missing one fails loudly, not per request. */
function validator(country: string, name: string): Validator {
  const found = stdnum[country]?.[name];
  if (found === undefined) throw new Error(`stdnum has no ${country}.${name} validator`);
  return found;
}

const checks: Record<NationalIdKind, Validator> = {
  fr_nir: validator("FR", "nir"),
  es_dni: validator("ES", "dni"),
  es_nie: validator("ES", "nie"),
  it_codice_fiscale: validator("IT", "codicefiscale"),
  de_steuer_id: validator("DE", "idnr"),
  nl_bsn: validator("NL", "bsn"),
  be_national_number: validator("BE", "nn"),
  pl_pesel: validator("PL", "pesel"),
};

/** Validates a compact (separator-free) national identifier of the given kind with its checksum. */
export function isNationalId(kind: NationalIdKind, compact: string): boolean {
  // stdnum's BSN also accepts 8 digits (a leading zero dropped); a bare 8-digit number is too common to flag.
  if (kind === "nl_bsn" && compact.length !== 9) return false;
  return checks[kind].validate(compact).isValid;
}

/** National identifiers that are all digits, by length, in the order they are tried. */
export const numericIdsByLength: Readonly<Record<number, readonly NationalIdKind[]>> = {
  9: ["nl_bsn"],
  11: ["pl_pesel", "be_national_number", "de_steuer_id"],
  15: ["fr_nir"],
};
