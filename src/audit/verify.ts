import type { Store } from "../store/database.ts";
import { auditLogRows } from "./audit-log-rows.ts";
import { genesisHash, recordHash } from "./chain.ts";
import { keyFingerprint, type NoteVerifier, noteSigners, openNote, parseCheckpointText } from "./signer.ts";

export interface VerifyResult {
  ok: boolean;
  /** Records checked. */
  records: number;
  /** Checkpoints whose signature verified. */
  checkpoints: number;
  /** The first thing wrong, by record sequence number (or checkpoint size). */
  first_bad?: { seq: number; reason: string };
  head?: { seq: number; hash: string };
}

const pageSize = 2000;

/**
 * Checks the whole log: every checkpoint's signature (by a trusted key), every record's hash and
 * link to the one before, no gap in the sequence, every checkpoint matching the record at its
 * size, and no record missing at the end that a checkpoint covered. Stops at the first fault and
 * names it, so an edit, deletion, reordering or truncation points at the record where it happened.
 */
export async function verifyAuditLog(
  store: Store,
  verifiers: NoteVerifier[],
  origin: string,
): Promise<VerifyResult> {
  const checkpointRows = await store.db
    .selectFrom("audit_checkpoints")
    .selectAll()
    .orderBy("size", "asc")
    .execute();
  const roots = new Map<number, string>();
  let checkpoints = 0;
  for (const row of checkpointRows) {
    const size = Number(row.size);
    const parsed = readSignedCheckpoint(row.note, verifiers, origin, `checkpoint at size ${size}`);
    if ("error" in parsed) return fail(0, checkpoints, size, parsed.error);
    if (parsed.size !== size || parsed.rootHashHex !== row.root_hash)
      return fail(
        0,
        checkpoints,
        size,
        `checkpoint at size ${size}: its columns differ from its signed text`,
      );
    roots.set(size, parsed.rootHashHex);
    checkpoints++;
  }

  let records = 0;
  let expected: number | undefined;
  let previousHash = "";
  for await (const row of auditLogRows(store.db, pageSize)) {
    const seq = Number(row.seq);
    if (expected === undefined) {
      // The first kept record follows the genesis, or a signed checkpoint when older ones were pruned.
      if (seq === 1) previousHash = genesisHash;
      else {
        const anchor = roots.get(seq - 1);
        if (anchor === undefined)
          return fail(
            records,
            checkpoints,
            1,
            `records 1 to ${seq - 1} are missing and no signed checkpoint anchors record ${seq}`,
          );
        previousHash = anchor;
      }
      expected = seq;
    }
    if (seq !== expected)
      return fail(records, checkpoints, expected, `record ${expected} is missing (deleted)`);
    if (row.prev_hash !== previousHash)
      return fail(
        records,
        checkpoints,
        seq,
        `record ${seq} does not follow record ${seq - 1} (previous hash differs: reordered or a record before it was replaced)`,
      );
    if (recordHash(row.prev_hash, seq, row.created_at, row.kind, row.body) !== row.hash)
      return fail(
        records,
        checkpoints,
        seq,
        `record ${seq} was altered (its hash does not match its content)`,
      );
    const consistency = columnsMatchBody(row);
    if (consistency !== undefined) return fail(records, checkpoints, seq, `record ${seq}: ${consistency}`);
    const root = roots.get(seq);
    if (root !== undefined && root !== row.hash)
      return fail(
        records,
        checkpoints,
        seq,
        `record ${seq} differs from the signed checkpoint at size ${seq} (chain rewritten)`,
      );
    previousHash = row.hash;
    expected = seq + 1;
    records++;
  }
  const last = expected === undefined ? 0 : expected - 1;
  const newest = checkpointRows.at(-1);
  if (newest !== undefined && Number(newest.size) > last)
    return fail(
      records,
      checkpoints,
      last + 1,
      `the log ends at record ${last} but a signed checkpoint covers ${Number(newest.size)} records (truncated)`,
    );
  return { ok: true, records, checkpoints, ...(last > 0 ? { head: { seq: last, hash: previousHash } } : {}) };
}

/**
 * A checkpoint's signed note, opened with the trusted keys and read: its size and root hash, or why
 * it cannot stand (`label` names the checkpoint in that reason).
 */
export function readSignedCheckpoint(
  note: string,
  verifiers: NoteVerifier[],
  origin: string,
  label: string,
): { size: number; rootHashHex: string } | { error: string } {
  const opened = openNote(note, verifiers);
  if ("error" in opened) return { error: `${label}: ${opened.error}` };
  const parsed = parseCheckpointText(opened.text);
  if (parsed === undefined || parsed.origin !== origin)
    return { error: `${label} is not a checkpoint of origin "${origin}"` };
  return parsed;
}

/** A key that signed checkpoints in the database but is none of the trusted ones. */
export interface UntrustedSigner {
  /** `<key name>+<key hash>` (see `keyFingerprint`). */
  fingerprint: string;
  /** How many of the checkpoints looked at it signed... */
  checkpoints: number;
  /** ...and the size of the newest of them. */
  newestSize: number;
}

/**
 * The keys that signed the newest `newest` checkpoints without any trusted key signing them too:
 * those checkpoints fail `verifyAuditLog` with "no signature by a trusted key". Only the key each
 * signature line names is compared (no signature is checked: a bad one is verification's to
 * report), so that this is cheap enough to run at every start.
 */
export async function untrustedCheckpointSigners(
  store: Store,
  verifiers: NoteVerifier[],
  newest = 100,
): Promise<{ checked: number; untrusted: UntrustedSigner[] }> {
  const rows = await store.db
    .selectFrom("audit_checkpoints")
    .select(["size", "note"])
    .orderBy("size", "desc")
    .limit(newest)
    .execute();
  const trusted = new Set(verifiers.map((verifier) => keyFingerprint(verifier.name, verifier.keyHash)));
  const untrusted = new Map<string, UntrustedSigner>();
  for (const row of rows) {
    const signers = noteSigners(row.note).map((signer) => keyFingerprint(signer.name, signer.keyHash));
    if (signers.length === 0 || signers.some((fingerprint) => trusted.has(fingerprint))) continue;
    const size = Number(row.size);
    for (const fingerprint of new Set(signers)) {
      const seen = untrusted.get(fingerprint);
      if (seen === undefined) untrusted.set(fingerprint, { fingerprint, checkpoints: 1, newestSize: size });
      else {
        seen.checkpoints++;
        seen.newestSize = Math.max(seen.newestSize, size);
      }
    }
  }
  return { checked: rows.length, untrusted: [...untrusted.values()] };
}

function fail(records: number, checkpoints: number, seq: number, reason: string): VerifyResult {
  return { ok: false, records, checkpoints, first_bad: { seq, reason } };
}

/** The filter columns are copies of body fields; a copy that differs was edited outside the chain. */
function columnsMatchBody(row: {
  tenant_id: string | null;
  actor: string | null;
  model: string | null;
  body: string;
}) {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(row.body) as Record<string, unknown>;
  } catch {
    return "its body is not JSON";
  }
  if ((body.tenant ?? null) !== row.tenant_id) return "its tenant column was edited";
  if ((body.actor ?? null) !== row.actor) return "its actor column was edited";
  const model = typeof body.model === "string" ? body.model : null;
  if (model !== row.model) return "its model column was edited";
  return undefined;
}
