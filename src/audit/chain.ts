import { createHash } from "node:crypto";

/** The `prev_hash` of the first record ever written. */
export const genesisHash = "0".repeat(64);

/**
 * A record's hash: SHA-256 over the previous hash, its position, time, kind and body, so that an
 * edit of any of them, a deletion or a move to another position breaks the chain from there on.
 */
export function recordHash(
  prevHash: string,
  seq: number,
  createdAt: string,
  kind: string,
  body: string,
): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${createdAt}\n${kind}\n${body}`).digest("hex");
}
