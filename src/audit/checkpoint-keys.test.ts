import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { configSchema } from "../config/config.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { warnOfUntrustedCheckpointKeys } from "./checkpoint-keys.ts";
import { auditKeyPath, openAuditLog, verifyAudit } from "./index.ts";
import type { AuditEvent } from "./records.ts";
import { createNoteVerifier, keyFingerprint, loadOrCreateSigner } from "./signer.ts";

/*
 * Several instances on one PostgreSQL each sign checkpoints with their own key unless they share
 * one, and `bastion audit verify` fails at checkpoints signed by a key it does not trust. The
 * server says so when its audit log opens, naming the key and the fix.
 */

const event: AuditEvent = { action: "tenant.created", target: { type: "tenant", id: "t1" } };

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; [field: string]: unknown }> = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, warnings: () => lines.filter((line) => line.level === 40) };
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});
const dataDirectory = () => {
  const directory = mkdtempSync(join(tmpdir(), "bastion-checkpoint-keys-"));
  directories.push(directory);
  return directory;
};

describe.each(testDatabases())("checkpoint keys at start on $name", ({ open }) => {
  const config = configSchema.parse({ audit: { checkpointEvery: 2, checkpointSeconds: 3600 } }).audit;

  /** Another instance on the same database: its own data directory, so its own signing key. */
  async function otherInstanceWrites(store: Store, dataDir = dataDirectory(), auditConfig = config) {
    const log = openAuditLog({ config: auditConfig, store, dataDir });
    for (let index = 0; index < 4; index++) await log.appendEvent(event);
    await log.close();
    const verifier = createNoteVerifier(log.publicKeyPem, auditConfig.origin);
    return {
      dataDir,
      publicKeyPem: log.publicKeyPem,
      fingerprint: keyFingerprint(verifier.name, verifier.keyHash),
    };
  }

  it("warns once, naming the untrusted key and how to trust it, when another instance's key signed them", async () => {
    const store = await open();
    try {
      const other = await otherInstanceWrites(store);
      const { logger, warnings } = capturingLogger();
      const dataDir = dataDirectory();
      const log = openAuditLog({ config, store, dataDir, logger });
      await vi.waitFor(() => expect(warnings()).toHaveLength(1), { timeout: 10_000, interval: 20 });
      const [warning] = warnings();
      expect(warning!.msg).toContain(other.fingerprint);
      expect(warning!.msg).toContain("audit.keyFile");
      expect(warning!.msg).toContain("audit.trustedPublicKeys");
      expect(warning!.msg).toContain("bastion audit public-key");
      expect(warning!.msg).toContain("2 of the newest 2 checkpoints");
      const own = loadOrCreateSigner(auditKeyPath(config, dataDir), config.origin);
      const ownVerifier = createNoteVerifier(own.publicKeyPem, config.origin);
      expect(warning!.msg).toContain(
        `This instance signs as ${keyFingerprint(ownVerifier.name, ownVerifier.keyHash)}`,
      );
      expect(warning!.untrustedAuditKeys).toEqual([
        { fingerprint: other.fingerprint, checkpoints: 2, newestSize: 4 },
      ]);
      // What the warning foretells: verification with this configuration fails at those checkpoints.
      expect((await verifyAudit({ config, store, dataDir })).first_bad?.reason).toMatch(
        /no signature by a trusted key/,
      );
      await log.close();
      expect(warnings()).toHaveLength(1);
    } finally {
      await store.destroy();
    }
  });

  it("stays quiet when the other key is trusted, or shared, or the checkpoints are this instance's", async () => {
    const store = await open();
    try {
      const other = await otherInstanceWrites(store);
      const publicKeyFile = join(dataDirectory(), "other.pem");
      writeFileSync(publicKeyFile, other.publicKeyPem);
      const trusting = { ...config, trustedPublicKeys: [publicKeyFile] };
      const { logger, warnings } = capturingLogger();
      const dataDir = dataDirectory();
      const signer = loadOrCreateSigner(auditKeyPath(trusting, dataDir), trusting.origin);
      await warnOfUntrustedCheckpointKeys({ config: trusting, store, signer, logger });
      expect(warnings()).toEqual([]);
      expect((await verifyAudit({ config: trusting, store, dataDir })).ok).toBe(true);

      // The same key file as the other instance.
      const sharing = { ...config, keyFile: auditKeyPath(config, other.dataDir) };
      const shared = loadOrCreateSigner(auditKeyPath(sharing, dataDirectory()), sharing.origin);
      await warnOfUntrustedCheckpointKeys({ config: sharing, store, signer: shared, logger });
      expect(warnings()).toEqual([]);
    } finally {
      await store.destroy();
    }
    const own = await open();
    try {
      const mine = await otherInstanceWrites(own);
      const { logger, warnings } = capturingLogger();
      const signer = loadOrCreateSigner(auditKeyPath(config, mine.dataDir), config.origin);
      await warnOfUntrustedCheckpointKeys({ config, store: own, signer, logger });
      expect(warnings()).toEqual([]);
    } finally {
      await own.destroy();
    }
  });

  it("warns of a checkpoint signed under another origin, and of a trusted key file it cannot read", async () => {
    const store = await open();
    try {
      const other = await otherInstanceWrites(store, dataDirectory(), {
        ...config,
        origin: "bastion/eu-west",
      });
      expect(other.fingerprint.startsWith("bastion/eu-west+")).toBe(true);
      const missing = join(dataDirectory(), "missing.pem");
      const { logger, warnings } = capturingLogger();
      const dataDir = dataDirectory();
      const trusting = { ...config, trustedPublicKeys: [missing] };
      const signer = loadOrCreateSigner(auditKeyPath(trusting, dataDir), trusting.origin);
      await warnOfUntrustedCheckpointKeys({ config: trusting, store, signer, logger });
      const messages = warnings().map((warning) => warning.msg);
      expect(messages).toHaveLength(2);
      expect(messages[0]).toContain(`audit.trustedPublicKeys: cannot read ${missing}`);
      expect(messages[1]).toContain(other.fingerprint);
    } finally {
      await store.destroy();
    }
  });
});
