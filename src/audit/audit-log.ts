import { sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import type { CompletedRequest } from "../core/request-record.ts";
import type { PricedRequest } from "../metering/meter.ts";
import type { AuditLogTable } from "../metering/tables.ts";
import type { Store } from "../store/database.ts";
import type { Database } from "../store/schema.ts";
import { runItem, runItemLater, sharedSqliteWriter } from "../store/sqlite-writer.ts";
import { type AuditAppend, auditAppendsJob } from "./audit-writes.ts";
import { genesisHash, recordHash } from "./chain.ts";
import { createGroupCommit } from "./group-commit.ts";
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
  /**
   * As `appendRequest`, for the request path: resolves once the record survives a crash (on
   * SQLite: in the shared writer's write-ahead journal, see `SqliteWriter.runLater`), with
   * `committed`, its sequence number once it is in the chain. Listing, checkpoints and
   * verification see every record appended before they were asked.
   */
  appendRequestLater(
    record: CompletedRequest,
    priced: PricedRequest,
  ): Promise<{ committed: Promise<number> }>;
  appendEvent(event: AuditEvent): Promise<number>;
  /** Signs the current head unless a checkpoint already covers it; returns its size. */
  checkpoint(): Promise<number | undefined>;
  list(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Erases a user (GDPR Art. 17): records the erasure, then deletes their pseudonym secret. */
  eraseUser(userId: string, by?: AuditEvent["principal"]): Promise<void>;
  /** Stops the timer and writes a last checkpoint. */
  close(): Promise<void>;
}

/** Where an append landed in the chain. */
interface Written {
  seq: number;
  hash: string;
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

  /** The rows of a batch after a head (or the anchoring checkpoint, or the genesis), chained in order. */
  function chainRows(
    head: { seq: number | string; hash: string } | undefined,
    anchor: { size: number | string; root_hash: string } | undefined,
    items: Array<{ kind: string; body: AuditBody }>,
  ) {
    // With every record pruned, the chain continues from the newest checkpoint that anchors it.
    let seq = head !== undefined ? Number(head.seq) : anchor !== undefined ? Number(anchor.size) : 0;
    let prevHash = head?.hash ?? anchor?.root_hash ?? genesisHash;
    const createdAt = new Date().toISOString();
    return items.map(({ kind, body }) => {
      seq++;
      const text = JSON.stringify(body);
      const hash = recordHash(prevHash, seq, createdAt, kind, text);
      const row = {
        seq,
        created_at: createdAt,
        kind,
        tenant_id: body.tenant,
        actor: body.actor,
        model: typeof body.model === "string" ? body.model : null,
        body: text,
        prev_hash: prevHash,
        hash,
      };
      prevHash = hash;
      return row;
    });
  }

  async function writePostgres(items: Array<{ kind: string; body: AuditBody }>): Promise<Written[]> {
    return store.db.transaction().execute(async (trx) => {
      // One chain across instances: the lock is held until this transaction ends.
      await sql`select pg_advisory_xact_lock(${appendLockKey})`.execute(trx);
      const head = await trx
        .selectFrom("audit_log")
        .select(["seq", "hash"])
        .orderBy("seq", "desc")
        .limit(1)
        .executeTakeFirst();
      const rows = chainRows(head, head === undefined ? await newestCheckpoint(trx) : undefined, items);
      await trx.insertInto("audit_log").values(rows).execute();
      return rows.map((row) => ({ seq: row.seq, hash: row.hash }));
    });
  }

  // SQLite: one job of the database's shared writer, which runs it in its worker thread inside one
  // IMMEDIATE transaction with the other per-request writes (usage rows, budget settlements): the
  // write lock is taken before the head is read, so another process (the CLI) cannot interleave,
  // and the chain's hashing and the commit stay off the event loop.
  const sqliteWriter = store.sqlite === undefined ? undefined : sharedSqliteWriter(store.sqlite);

  // PostgreSQL: appends that arrive while a write runs share the next transaction (group commit).
  const writer = createGroupCommit(writePostgres, 50);

  const appendOf = (kind: string, body: AuditBody): AuditAppend => [
    kind,
    body.tenant,
    body.actor,
    typeof body.model === "string" ? body.model : null,
    JSON.stringify(body),
  ];

  async function append(kind: string, body: AuditBody): Promise<number> {
    let written: Written;
    if (sqliteWriter === undefined) written = await writer.add({ kind, body });
    else {
      // The appends of one turn fold into one job of the writer, in order (one promise per turn).
      const [seq, hash] = await runItem(sqliteWriter, auditAppendsJob, appendOf(kind, body), "audit record");
      written = { seq, hash };
    }
    return appended(written);
  }

  /** Counts an append towards the next checkpoint. */
  function appended(written: Written): number {
    dirty = true;
    // Sign exactly this record's position, whatever has been appended since.
    if (++sinceCheckpoint >= options.checkpointEvery) {
      sinceCheckpoint = 0;
      void signAt(written).catch(reportCheckpointError);
    }
    return written.seq;
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

  function signAt(at: Written): Promise<number | undefined> {
    // One at a time: a second caller waits for the running one.
    const run = (checkpointing ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .then(() => doCheckpoint(at));
    checkpointing = run;
    return run;
  }

  async function doCheckpoint(at?: Written): Promise<number | undefined> {
    if (at === undefined) {
      dirty = false;
      sinceCheckpoint = 0;
    }
    // Records still waiting for their transaction are part of the head to sign.
    if (at === undefined) await sqliteWriter?.flushed();
    const head =
      at ??
      (await store.db
        .selectFrom("audit_log")
        .select(["seq", "hash"])
        .orderBy("seq", "desc")
        .limit(1)
        .executeTakeFirst());
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
    async appendRequestLater(record, priced) {
      const body = await requestBody(record, priced, pseudonyms);
      if (sqliteWriter === undefined) {
        const committed = append("request", body);
        await committed;
        return { committed };
      }
      const later = runItemLater(sqliteWriter, auditAppendsJob, appendOf("request", body), "audit record");
      await later.journaled;
      return { committed: later.committed.then(([seq, hash]) => appended({ seq, hash })) };
    },
    async appendEvent(event) {
      return append("admin", await eventBody(event, pseudonyms));
    },
    checkpoint() {
      // One at a time: a second caller waits for the running one, then signs the head as it is then.
      const run = (checkpointing ?? Promise.resolve(undefined))
        .catch(() => undefined)
        .then(() => doCheckpoint());
      checkpointing = run;
      return run;
    },
    async list(query = {}) {
      await sqliteWriter?.flushed();
      let select = store.db.selectFrom("audit_log").selectAll();
      if (query.from !== undefined) select = select.where("created_at", ">=", query.from);
      if (query.to !== undefined) select = select.where("created_at", "<", query.to);
      if (query.tenantId !== undefined) select = select.where("tenant_id", "=", query.tenantId);
      if (query.model !== undefined) select = select.where("model", "=", query.model);
      if (query.after !== undefined) select = select.where("seq", ">", query.after);
      if (query.user !== undefined) {
        const actor = await pseudonyms.find(query.user);
        // A user with no secret (never seen, or erased) has no records that can be named.
        if (actor === undefined) return [];
        select = select.where("actor", "=", actor);
      }
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
      await writer.drain();
      await sqliteWriter?.drain();
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

/** The columns of an audit row that its hash covers (and `hash` itself). */
export type StoredAuditRow = Pick<
  AuditLogTable,
  "seq" | "created_at" | "kind" | "prev_hash" | "hash" | "body"
>;

export function toAuditRecord(row: StoredAuditRow): AuditRecord {
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
