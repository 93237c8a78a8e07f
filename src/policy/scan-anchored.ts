import type { Findings } from "./scanner.ts";
import { isIpv6 } from "./validators.ts";

/** Finds emails from each `@`: the local part to the left, a dotted domain to the right. */
export function scanEmails(text: string, findings: Findings): void {
  let at = text.indexOf("@");
  while (at !== -1) {
    // Bounded by the longest local part (64) and domain (253) there can be, so that a hostile text
    // of one long run and many @ costs linear time, not quadratic.
    const floor = Math.max(0, at - 65);
    let left = at;
    while (left > floor && isLocalChar(text.charCodeAt(left - 1))) left--;
    const tooLong = left === floor && left > 0 && isLocalChar(text.charCodeAt(left - 1));
    while (left < at && text.charCodeAt(left) === 46) left++;
    const ceiling = Math.min(text.length, at + 254);
    let right = at + 1;
    while (right < ceiling && isDomainChar(text.charCodeAt(right))) right++;
    while (right > at + 1 && (text.charCodeAt(right - 1) === 46 || text.charCodeAt(right - 1) === 45))
      right--;
    const local = at - left;
    const domain = text.slice(at + 1, right);
    const dot = domain.lastIndexOf(".");
    if (
      !tooLong &&
      local > 0 &&
      local <= 64 &&
      dot > 0 &&
      domain.length - dot > 2 &&
      /^[\p{L}]{2,}$/u.test(domain.slice(dot + 1))
    ) {
      findings.add("email", left, text.slice(left, right), 0.95);
      at = text.indexOf("@", right);
    } else at = text.indexOf("@", at + 1);
  }
}

function isLocalChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) ||
    (code >= 65 && code <= 90) ||
    (code >= 48 && code <= 57) ||
    code === 46 ||
    code === 95 ||
    code === 45 ||
    code === 43 ||
    code === 37 ||
    (code >= 0xc0 && code <= 0x24f && code !== 0xd7 && code !== 0xf7)
  );
}

function isDomainChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) ||
    (code >= 65 && code <= 90) ||
    (code >= 48 && code <= 57) ||
    code === 46 ||
    code === 45 ||
    (code >= 0xc0 && code <= 0x24f && code !== 0xd7 && code !== 0xf7)
  );
}

function isHexOrColon(code: number): boolean {
  return (
    (code >= 48 && code <= 58) || (code >= 97 && code <= 102) || (code >= 65 && code <= 70) || code === 46
  );
}

function isWordChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95
  );
}

/** Finds IPv6 addresses from each `::` or colon-separated hex run, checked by `node:net`. */
export function scanIpv6(text: string, findings: Findings): void {
  let colon = text.indexOf(":");
  while (colon !== -1) {
    // Most colons in prose ("IBAN : ...", "Note: ...") have no hex digit or colon on either side.
    if (
      !isHexOrColon(text.charCodeAt(colon - 1)) &&
      (colon + 1 >= text.length || !isHexOrColon(text.charCodeAt(colon + 1)))
    ) {
      colon = text.indexOf(":", colon + 1);
      continue;
    }
    let left = colon;
    while (left > 0 && isHexOrColon(text.charCodeAt(left - 1))) left--;
    let right = colon + 1;
    while (right < text.length && isHexOrColon(text.charCodeAt(right))) right++;
    while (right > colon + 1 && text.charCodeAt(right - 1) === 46) right--;
    // Counted before any string is built: an address has two colons or more, a digit, and two
    // groups or more ("std::vector" and "lautet:" do not).
    let colons = 0;
    let digits = 0;
    let groups = 0;
    for (let index = left; index < right; index++) {
      const code = text.charCodeAt(index);
      if (code === 58) colons++;
      else {
        if (code >= 48 && code <= 57) digits++;
        if (index === left || text.charCodeAt(index - 1) === 58) groups++;
      }
    }
    const bounded =
      (left === 0 || !isWordChar(text.charCodeAt(left - 1))) &&
      (right === text.length || !isWordChar(text.charCodeAt(right)));
    if (bounded && colons >= 2 && digits > 0 && groups >= 2) {
      const candidate = text.slice(left, right);
      if (isIpv6(candidate)) findings.add("ip_address", left, candidate, 0.9, "ipv6");
    }
    colon = text.indexOf(":", Math.max(right, colon + 1));
  }
}
