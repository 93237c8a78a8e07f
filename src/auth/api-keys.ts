import { hash, randomBytes, timingSafeEqual } from "node:crypto";

/** Keys look like `bst_live_<8-char prefix>_<43-char secret>`; the prefix is shown, the rest never again. */
const keyPattern = /^bst_live_([a-z2-7]{8})_([A-Za-z0-9_-]{43})$/;
const base32 = "abcdefghijklmnopqrstuvwxyz234567";

export interface GeneratedApiKey {
  /** The whole key, shown to its owner once. */
  secret: string;
  prefix: string;
  /** What the store keeps. */
  hash: string;
}

/**
 * A new API key: 256 random bits behind a visible prefix. SHA-256 is enough for the stored hash
 * (unlike a password, the secret is high-entropy, so there is nothing to brute-force) and keeps
 * every request's check in microseconds.
 */
export function generateApiKey(): GeneratedApiKey {
  const prefixBytes = randomBytes(8);
  let prefix = "";
  for (const byte of prefixBytes) prefix += base32[byte & 31];
  const secret = `bst_live_${prefix}_${randomBytes(32).toString("base64url")}`;
  return { secret, prefix, hash: hashApiKey(secret) };
}

/** SHA-256 of a key or session token, hex. */
export function hashApiKey(secret: string): string {
  // The one-shot hash: no Hash object per request (the key check runs on every request).
  return hash("sha256", secret, "hex");
}

/** The prefix of a well-formed key, or undefined for anything else. */
export function parseApiKey(secret: string): { prefix: string } | undefined {
  const match = keyPattern.exec(secret);
  return match === null ? undefined : { prefix: match[1]! };
}

/** How a key is shown after creation: `bst_live_ab12cd34…`. */
export function displayPrefix(prefix: string): string {
  return `bst_live_${prefix}…`;
}

/** Compares two hex digests in constant time. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
