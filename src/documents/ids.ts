import { randomBytes } from "node:crypto";

/** OpenAI-style ids: `file-…`, `vs_…`, `vsfb_…`, `resp_…`, `msg_…`, `fs_…`. */
export function newId(prefix: string): string {
  const body = randomBytes(12).toString("base64url").replace(/[-_]/g, "x");
  return prefix.endsWith("-") || prefix.endsWith("_") ? `${prefix}${body}` : `${prefix}_${body}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Parses a JSON column, or returns the fallback for null / broken text. */
export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text == null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
