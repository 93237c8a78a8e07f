import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { BastionConfig } from "../config/config.ts";
import type { Store } from "../store/database.ts";
import { type AuditLog, createAuditLog, type StoredAuditRow, toAuditRecord } from "./audit-log.ts";
import { warnOfUntrustedCheckpointKeys } from "./checkpoint-keys.ts";
import type { AuditEvent } from "./records.ts";
import { createNoteVerifier, loadOrCreateSigner, type NoteVerifier } from "./signer.ts";
import { type VerifyResult, verifyAuditLog } from "./verify.ts";

export { auditAdminActions } from "./admin-actions.ts";
export type { AuditLog, AuditQuery, AuditRecord } from "./audit-log.ts";
export { auditLogRows } from "./audit-log-rows.ts";
export type { AuditEvent } from "./records.ts";
export { pruneAuditLog } from "./retention.ts";

/**
 * One line of `bastion audit export`: the record parsed for reading, plus the exact hashed `body`
 * text, so that anyone can recompute SHA-256(prev_hash, seq, created_at, kind, body) offline.
 */
export function toAuditRecordLine(row: StoredAuditRow) {
  return { ...toAuditRecord(row), body: row.body };
}
export type { VerifyResult } from "./verify.ts";

export type AuditConfig = BastionConfig["audit"];

/** Where the signing key lives: `audit.keyFile`, else `<dataDir>/audit-key.pem`. */
export function auditKeyPath(config: AuditConfig, dataDir: string): string {
  return config.keyFile ?? join(dataDir, "audit-key.pem");
}

/**
 * The audit log of a store, signing with the data directory's key (created on first use, mode
 * 0600). With a logger (the server's start), it also checks in the background that the newest
 * checkpoints in the database are signed by a trusted key, and warns once when they are not.
 */
export function openAuditLog(options: {
  config: AuditConfig;
  store: Store;
  dataDir: string;
  logger?: Logger;
}): AuditLog {
  const signer = loadOrCreateSigner(auditKeyPath(options.config, options.dataDir), options.config.origin);
  if (options.logger !== undefined)
    void warnOfUntrustedCheckpointKeys({
      config: options.config,
      store: options.store,
      signer,
      logger: options.logger,
    });
  return createAuditLog({
    store: options.store,
    signer,
    origin: options.config.origin,
    checkpointEvery: options.config.checkpointEvery,
    checkpointSeconds: options.config.checkpointSeconds,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

/** The keys whose checkpoints verify: this installation's key and `audit.trustedPublicKeys`. */
export function trustedVerifiers(
  config: AuditConfig,
  dataDir: string,
  extraPemFiles: string[] = [],
): NoteVerifier[] {
  const verifiers: NoteVerifier[] = [];
  const own = auditKeyPath(config, dataDir);
  if (existsSync(own)) verifiers.push(createNoteVerifier(readFileSync(own, "utf8"), config.origin));
  for (const file of [...config.trustedPublicKeys, ...extraPemFiles])
    verifiers.push(createNoteVerifier(readFileSync(file, "utf8"), config.origin));
  return verifiers;
}

/** Verifies a store's audit log against the trusted keys. */
export function verifyAudit(options: {
  config: AuditConfig;
  store: Store;
  dataDir: string;
  publicKeyFiles?: string[];
}): Promise<VerifyResult> {
  return verifyAuditLog(
    options.store,
    trustedVerifiers(options.config, options.dataDir, options.publicKeyFiles),
    options.config.origin,
  );
}

/**
 * Records an administrative action (key created or revoked, user erased, tenant changed) in the
 * audit log. Admin routes call this after the change is committed; it is a no-op when audit is off.
 */
export async function appendAuditEvent(log: AuditLog | undefined, event: AuditEvent): Promise<void> {
  await log?.appendEvent(event);
}
