import type SQLite from "better-sqlite3";
import { eachItem, type ItemOutcome, sqliteJob } from "../store/sqlite-writer.ts";
import { genesisHash, recordHash } from "./chain.ts";

/** One audit record to append: kind, tenant, actor, model and the exact body text that is hashed. */
export type AuditAppend = [
  kind: string,
  tenant: string | null,
  actor: string | null,
  model: string | null,
  body: string,
];

/** Where an append landed in the chain: sequence number and hash. */
export type AuditWritten = [seq: number, hash: string];

/**
 * The SQLite append, as a job of the database's shared writer (in its worker thread when the
 * database is a file): reads the head inside the writer's IMMEDIATE transaction, so that no other
 * connection or process (the CLI, another instance on the same file) can append in between, and
 * chains the record to it. With every record pruned, the chain continues from the newest
 * checkpoint that anchors it.
 */
export function prepareAuditAppend(sqlite: SQLite.Database): (item: AuditAppend) => AuditWritten {
  const head = sqlite.prepare("select seq, hash from audit_log order by seq desc limit 1").raw();
  const anchor = sqlite
    .prepare("select size, root_hash from audit_checkpoints order by size desc limit 1")
    .raw();
  const insert = sqlite.prepare(
    "insert into audit_log (seq, created_at, kind, tenant_id, actor, model, body, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  return ([kind, tenant, actor, model, body]) => {
    const top =
      (head.get() as [number, string] | undefined) ?? (anchor.get() as [number, string] | undefined);
    const seq = (top === undefined ? 0 : Number(top[0])) + 1;
    const prevHash = top?.[1] ?? genesisHash;
    const createdAt = new Date().toISOString();
    const hash = recordHash(prevHash, seq, createdAt, kind, body);
    insert.run(seq, createdAt, kind, tenant, actor, model, body, prevHash, hash);
    return [seq, hash];
  };
}

export const auditAppendJob = sqliteJob(import.meta.url, "prepareAuditAppend", prepareAuditAppend);

/**
 * Several appends as one job (the appends of one turn fold into it, see `runItem`), in order, each
 * chained to the one before. One failing append fails alone: its statement is undone and the next
 * one chains to the head as it is.
 */
export function prepareAuditAppends(
  sqlite: SQLite.Database,
): (items: AuditAppend[]) => Array<ItemOutcome<AuditWritten>> {
  return eachItem(prepareAuditAppend(sqlite));
}

export const auditAppendsJob = sqliteJob(import.meta.url, "prepareAuditAppends", prepareAuditAppends);
