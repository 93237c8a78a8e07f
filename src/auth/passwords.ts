import { hash, verify } from "@node-rs/argon2";

/** OWASP's argon2id baseline (19 MiB, 2 passes): well under 100 ms per sign-in on one core. */
// `algorithm: 2` is Algorithm.Argon2id, a const enum that verbatimModuleSyntax cannot import.
const options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** A PHC-format argon2id hash of a password. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

// Verified against when the email is unknown, so that a wrong email costs as long as a wrong password.
let decoy: Promise<string> | undefined;

/** Whether `password` matches `stored`; with no stored hash, spends the same time and says no. */
export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (stored === null || stored === undefined) {
    decoy ??= hashPassword("decoy password, never matches");
    await verify(await decoy, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
