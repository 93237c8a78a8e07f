import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { BastionConfig } from "../config/config.ts";
import type { Store } from "../store/database.ts";
import { createNoteVerifier, keyFingerprint, type NoteSigner, type NoteVerifier } from "./signer.ts";
import { untrustedCheckpointSigners } from "./verify.ts";

/** How many of the newest checkpoints the start-up check reads. */
const newestCheckpoints = 100;

/**
 * Warns (once, at warn level) when the newest checkpoints in the database are signed by a key
 * this instance's configuration does not trust. Several instances on one PostgreSQL each sign
 * with the key their own data directory made unless they share one, and `bastion audit verify`
 * then fails at the first checkpoint another signed; saying so at start, with the key and the
 * fix, beats learning it from an auditor. Also warns of `audit.trustedPublicKeys` files it
 * cannot read. Never throws: a failed check is logged at debug level and start-up goes on.
 */
export async function warnOfUntrustedCheckpointKeys(options: {
  config: Pick<BastionConfig["audit"], "origin" | "trustedPublicKeys">;
  store: Store;
  signer: NoteSigner;
  logger: Logger;
}): Promise<void> {
  const { config, logger } = options;
  try {
    const own = createNoteVerifier(options.signer.publicKeyPem, config.origin);
    const verifiers: NoteVerifier[] = [own];
    const unreadable: Array<{ file: string; reason: string }> = [];
    for (const file of config.trustedPublicKeys) {
      try {
        verifiers.push(createNoteVerifier(readFileSync(file, "utf8"), config.origin));
      } catch (error) {
        unreadable.push({ file, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    if (unreadable.length > 0) {
      logger.warn(
        { trustedPublicKeys: unreadable },
        `audit.trustedPublicKeys: cannot read ${unreadable.map((entry) => `${entry.file} (${entry.reason})`).join(", ")}. Checkpoints signed by ${unreadable.length === 1 ? "that key" : "those keys"} will not verify; give each entry the path of a PEM public key (\`bastion audit public-key\` prints one).`,
      );
    }
    const { checked, untrusted } = await untrustedCheckpointSigners(
      options.store,
      verifiers,
      newestCheckpoints,
    );
    if (untrusted.length === 0) return;
    const ownKey = keyFingerprint(own.name, own.keyHash);
    const keys = untrusted
      .map(
        (signer) =>
          `${signer.fingerprint} (${signer.checkpoints} of the newest ${checked} checkpoints, the newest at record ${signer.newestSize})`,
      )
      .join(", ");
    logger.warn(
      { untrustedAuditKeys: untrusted, auditKey: ownKey },
      `Audit checkpoints in the database are signed by ${untrusted.length === 1 ? "a key" : "keys"} this instance does not trust: ${keys}. \`bastion audit verify\` with this configuration fails at them ("no signature by a trusted key"). If several instances share this database, give them all one signing key (the same audit.keyFile on each), or add each other instance's public key (\`bastion audit public-key\` on it, saved as a PEM file) to audit.trustedPublicKeys here. This instance signs as ${ownKey}.`,
    );
  } catch (error) {
    logger.debug({ err: error }, "could not check the keys of the audit checkpoints");
  }
}
