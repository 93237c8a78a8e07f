import type { ChatRequest } from "../core/chat.ts";
import { PolicyDeniedError } from "./policy-error.ts";
import { mapRequestTexts } from "./request-texts.ts";
import type { Detection, DetectorType, Inspection, Pseudonymiser } from "./types.ts";

const labels: Record<DetectorType, string> = {
  email: "EMAIL",
  phone: "PHONE",
  iban: "IBAN",
  payment_card: "CARD",
  ip_address: "IP",
  national_id: "ID",
  secret: "SECRET",
  person: "PERSON",
  custom: "CUSTOM",
};

const open = "⟦";
const close = "⟧";
/** A placeholder as issued: `⟦EMAIL_1⟧`, `⟦PROJECT_CODENAME_2⟧`. */
const placeholderPattern = /⟦([A-Z][A-Z0-9_]*_\d+)⟧/g;
/** The same inside JSON text, where a model may escape the brackets as `\u27e6` / `\u27e7`. */
const jsonPlaceholderPattern = /(?:⟦|\\u27[eE]6)([A-Z][A-Z0-9_]*_\d+)(?:⟧|\\u27[eE]7)/g;
/** Longest placeholder we issue; a held-back stream tail never grows beyond it. */
const maxPlaceholderLength = 64;
/** A stream tail that may still become a placeholder. */
const possiblePrefix = /⟦[A-Z0-9_]*$/;

/** The label of a detection's placeholder: its type, or a custom pattern's own name. */
function labelOf(detection: Detection): string {
  if (detection.type === "custom" && detection.subtype !== undefined)
    return detection.subtype.toUpperCase().slice(0, 40);
  return labels[detection.type];
}

/**
 * Reversible pseudonymisation of one request under its inspection. Placeholders are numbered per
 * label in order of first appearance; the same value always gets the same placeholder. The map
 * lives in memory for this request only.
 */
export function createPseudonymiser(
  inspection: Inspection,
): Pseudonymiser & { restoreArguments(json: string): string } {
  const byValue = new Map<string, string>();
  const byPlaceholder = new Map<string, string>();
  const issued: Record<string, number> = {};
  const perLabel = new Map<string, number>();
  const byPath = new Map<string, Detection[]>();

  const placeholderFor = (detection: Detection): string => {
    const known = byValue.get(detection.value);
    if (known !== undefined) return known;
    const label = labelOf(detection);
    const number = (perLabel.get(label) ?? 0) + 1;
    perLabel.set(label, number);
    const placeholder = `${open}${label}_${number}${close}`;
    byValue.set(detection.value, placeholder);
    byPlaceholder.set(`${label}_${number}`, detection.value);
    issued[detection.type] = (issued[detection.type] ?? 0) + 1;
    return placeholder;
  };

  for (const detection of inspection.detections) {
    placeholderFor(detection);
    const list = byPath.get(detection.path) ?? [];
    list.push(detection);
    byPath.set(detection.path, list);
  }
  // Longest values first, so that a value containing another is replaced whole.
  const values = [...byValue.keys()].filter((value) => value.length >= 3).sort((a, b) => b.length - a.length);

  const maskText = (text: string, path: string, maskable: boolean): string => {
    const masked = maskValues(text, path);
    // A name, a key or a pattern with a placeholder in it would mean something else: fail closed
    // (egressFor denies such a request before it gets here; this guards a value found elsewhere
    // that recurs in such a field).
    if (!maskable && masked !== text)
      throw new PolicyDeniedError(
        "unmaskable_field",
        `${maskValues(path, "")} holds personal data and cannot be pseudonymised without changing what the request means`,
      );
    return masked;
  };

  const maskValues = (text: string, path: string): string => {
    let masked = text;
    const detections = byPath.get(path);
    if (detections !== undefined) {
      const sorted = [...detections].sort((a, b) => b.start - a.start);
      for (const detection of sorted) {
        // Offsets refer to the text as inspected; a text that changed since is masked by value below.
        if (masked.slice(detection.start, detection.end) !== detection.value) continue;
        masked = masked.slice(0, detection.start) + placeholderFor(detection) + masked.slice(detection.end);
      }
    }
    // A detected value may recur where no detector fired (a surname alone after "M. Dupont").
    for (const value of values)
      if (masked.includes(value)) masked = masked.replaceAll(value, byValue.get(value) as string);
    return masked;
  };

  const restore = (text: string): string =>
    text.includes(open)
      ? text.replace(placeholderPattern, (whole, key: string) => byPlaceholder.get(key) ?? whole)
      : text;

  return {
    mask: (request: ChatRequest) => mapRequestTexts(request, maskText),
    restore,
    restoreArguments: (json: string) =>
      json.replace(jsonPlaceholderPattern, (whole, key: string) => {
        const value = byPlaceholder.get(key);
        // Inside a JSON string the value must be escaped (quotes, backslashes, newlines of a key block).
        return value === undefined ? whole : JSON.stringify(value).slice(1, -1);
      }),
    createRestorer() {
      let held = "";
      return {
        push(delta: string): string {
          const text = held + delta;
          const lastOpen = text.lastIndexOf(open);
          if (
            lastOpen !== -1 &&
            text.length - lastOpen < maxPlaceholderLength &&
            possiblePrefix.test(text.slice(lastOpen))
          ) {
            held = text.slice(lastOpen);
            return restore(text.slice(0, lastOpen));
          }
          held = "";
          return restore(text);
        },
        flush(): string {
          const rest = held;
          held = "";
          return restore(rest);
        },
      };
    },
    counts: () => ({ ...issued }),
  };
}
