import { sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import type { CompletedRequest } from "../core/request-record.ts";
import type { PricedRequest } from "../metering/meter.ts";
import type { Store } from "../store/database.ts";
import type { Database } from "../store/schema.ts";
import { genesisHash, recordHash } from "./chain.ts";
import { createPseudonyms, type Pseudonyms } from "./pseudonyms.ts";
import { type AuditBody, type AuditEvent, eventBody, requestBody } from "./records.ts";
import { checkpointText, type NoteSigner } from "./signer.ts";

/** A stored audit record, as the admin API and `bastion audit export` show it. */
export interface AuditRecord {
  seq: number;
  created_at: string;
  kind: string;
  prev_hash: string;
  hash: string;
  record: AuditBody;
}

export interface AuditQuery {
  from?: string;
  to?: string;
  /** A user id: matched through its pseudonym. */
  user?: string;
  model?: string;
  tenantId?: string;
  /** Records after this sequence number (paging). */
  after?: number;
  limit?: number;
}

export interface AuditLogOptions {
  store: Store;
  signer: NoteSigner;
  origin: string;
  /** A checkpoint after this many records, and `checkpointSeconds` after new records; 0 = no timer. */
  checkpointEvery: number;
  checkpointSeconds: number;
  logger?: Logger;
}

export interface AuditLog {
  readonly pseudonyms: Pseudonyms;
  readonly publicKeyPem: string;
  appendRequest(record: CompletedRequest, priced: PricedRequest): Promise<number>;
  appendEvent(event: AuditEvent): Promise<number>;
  /** Signs the current head unless a checkpoint already covers it; returns its size. */
  checkpoint(): Promise<number | undefined>;
  list(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Erases a user (GDPR Art. 17): records the erasure, then deletes their pseudonym secret. */
  eraseUser(userId: string, by?: AuditEvent["principal"]): Promise<void>;
  /** Stops the timer and writes a last checkpoint. */
  close(): Promise<void>;
}

/** Serialises appends across every instance on one PostgreSQL: one advisory lock per transaction. */
const appendLockKey = 0x62617374; // "bast"

/**
 * The append-only, hash-chained audit log. Each append reads the head and writes the next record
 * under a lock (PostgreSQL advisory lock, SQLite `BEGIN IMMEDIATE`), so that several instances on
 * one database keep one chain. Checkpoints sign the head as a C2SP note every `checkpointEvery`
 * records, every `checkpointSeconds` when something was added, and on close.
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { store, signer } = options;
  const pseudonyms = createPseudonyms(store);
  let sinceCheckpoint = 0;
  let dirty = false;
  let checkpointing: Promise<number | undefined> | undefined;

  async function insertNext(db: Transaction<Database> | Store["db"], kind: string, body: AuditBody) {
    const head = await db
      .selectFrom("audit_log")
      .select(["seq", "hash"])
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    // With every record pruned, the chain continues from the newest checkpoint that anchors it.
    const anchor = head === undefined ? await newestCheckpoint(db) : undefined;
    const seq =
      head !== undefined ? Number(head.seq) + 1 : anchor !== undefined ? Number(anchor.size) + 1 : 1;
    const prevHash = head?.hash ?? anchor?.root_hash ?? genesisHash;
    const createdAt = new Date().toISOString();
    const text = JSON.stringify(body);
    await db
      .insertInto("audit_log")
      .values({
        seq,
        created_at: createdAt,
        kind,
        tenant_id: body.tenant,
        actor: body.actor,
        model: typeof body.model === "string" ? body.model : null,
        body: text,
        prev_hash: prevHash,
        hash: recordHash(prevHash, seq, createdAt, kind, text),
      })
      .execute();
    return seq;
  }

  async function append(kind: string, body: AuditBody): Promise<number> {
    let seq: number;
    if (store.dialect === "postgres") {
      seq = await store.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${appendLockKey})`.execute(trx);
        return insertNext(trx, kind, body);
      });
    } else {
      // One connection, held for the whole read-then-write; IMMEDIATE takes the write lock up
      // front so that another process (the CLI) cannot interleave.
      seq = await store.db.connection().execute(async (connection) => {
        await sql`begin immediate`.execute(connection);
        try {
          const next = await insertNext(connection, kind, body);
          await sql`commit`.execute(connection);
          return next;
        } catch (error) {
          await sql`rollback`.execute(connection).catch(() => {});
          throw error;
        }
      });
    }
    dirty = true;
    if (++sinceCheckpoint >= options.checkpointEvery) void log.checkpoint().catch(reportCheckpointError);
    return seq;
  }

  const reportCheckpointError = (error: unknown): void => {
    options.logger?.error({ err: error }, "audit checkpoint failed");
  };

  const timer =
    options.checkpointSeconds > 0
      ? setInterval(() => {
          if (dirty) void log.checkpoint().catch(reportCheckpointError);
        }, options.checkpointSeconds * 1000)
      : undefined;
  timer?.unref();

  async function doCheckpoint(): Promise<number | undefined> {
    dirty = false;
    sinceCheckpoint = 0;
    const head = await store.db
      .selectFrom("audit_log")
      .select(["seq", "hash"])
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    if (head === undefined) return undefined;
    const size = Number(head.seq);
    const note = signer.sign(checkpointText(options.origin, size, head.hash));
    await store.db
      .insertInto("audit_checkpoints")
      .values({ size, created_at: new Date().toISOString(), root_hash: head.hash, note })
      .onConflict((conflict) => conflict.column("size").doNothing())
      .execute();
    return size;
  }

  const log: AuditLog = {
    pseudonyms,
    publicKeyPem: signer.publicKeyPem,
    async appendRequest(record, priced) {
      return append("request", await requestBody(record, priced, pseudonyms));
    },
    async appendEvent(event) {
      return append("admin", await eventBody(event, pseudonyms));
    },
    checkpoint() {
      // One at a time: a second caller waits for the running one, then signs what is new.
      const run = (checkpointing ?? Promise.resolve(undefined)).catch(() => undefined).then(doCheckpoint);
      checkpointing = run;
      return run;
    },
    async list(query = {}) {
      let select = store.db.selectFrom("audit_log").selectAll();
      if (query.from !== undefined) select = select.where("created_at", ">=", query.from);
      if (query.to !== undefined) select = select.where("created_at", "<", query.to);
      if (query.tenantId !== undefined) select = select.where("tenant_id", "=", query.tenantId);
      if (query.model !== undefined) select = select.where("model", "=", query.model);
      if (query.after !== undefined) select = select.where("seq", ">", query.after);
      if (query.user !== undefined) select = select.where("actor", "=", await pseudonyms.user(query.user));
      const rows = await select
        .orderBy("seq", "asc")
        .limit(Math.min(Math.max(query.limit ?? 100, 1), 1000))
        .execute();
      return rows.map(toAuditRecord);
    },
    async eraseUser(userId, by) {
      await log.appendEvent({
        action: "user.erased",
        ...(by === undefined ? {} : { principal: by }),
        target: { type: "user", id: userId },
      });
      await pseudonyms.erase(userId);
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      if (dirty) await log.checkpoint();
      else await checkpointing?.catch(() => undefined);
    },
  };
  return log;
}

async function newestCheckpoint(db: Transaction<Database> | Store["db"]) {
  return db
    .selectFrom("audit_checkpoints")
    .select(["size", "root_hash"])
    .orderBy("size", "desc")
    .limit(1)
    .executeTakeFirst();
}

export function toAuditRecord(row: {
  seq: number | string;
  created_at: string;
  kind: string;
  prev_hash: string;
  hash: string;
  body: string;
}): AuditRecord {
  let record: AuditBody;
  try {
    record = JSON.parse(row.body) as AuditBody;
  } catch {
    record = { type: "admin", tenant: null, actor: null, key: null, unreadable: true };
  }
  return {
    seq: Number(row.seq),
    created_at: row.created_at,
    kind: row.kind,
    prev_hash: row.prev_hash,
    hash: row.hash,
    record,
  };
}
