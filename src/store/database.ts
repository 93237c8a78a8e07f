import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import { Migrator } from "kysely/migration";
import pg from "pg";
import * as sqliteVec from "sqlite-vec";
import { BastionError } from "../core/errors.ts";
import { migrations } from "./migrations/index.ts";
import type { Database } from "./schema.ts";
import { closeSqliteWriter, configureSqliteConnection } from "./sqlite-writer.ts";

export type StoreDialect = "sqlite" | "postgres";

/** Bastion's persistent state: one Kysely instance over SQLite (default) or PostgreSQL. */
export interface Store {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /**
   * The raw SQLite handle, for what Kysely cannot express (loading sqlite-vec, FTS5 virtual
   * tables). Absent on PostgreSQL.
   */
  sqlite?: SQLite.Database;
  destroy(): Promise<void>;
}

export interface OpenStoreOptions {
  /** A `postgres://` URL; SQLite at `sqlitePath` when absent. */
  databaseUrl?: string;
  /** SQLite file; `:memory:` for tests. Default `<dataDir>/bastion.db`. */
  sqlitePath?: string;
  dataDir?: string;
  /** Run pending migrations (default true). */
  migrate?: boolean;
}

/**
 * Opens the store and brings its schema up to date. A database that has migrations this code
 * does not know (written by a newer Bastion) is refused with a message that says so.
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  let store: Store;
  if (options.databaseUrl !== undefined && options.databaseUrl !== "") {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    store = {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      dialect: "postgres",
      destroy: async () => {
        await store.db.destroy();
      },
    };
  } else {
    const path = options.sqlitePath ?? join(options.dataDir ?? ".", "bastion.db");
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SQLite(path);
    // Documents keep vectors in sqlite-vec virtual tables: without the extension, any schema
    // introspection (the migrator's included) fails on them with "no such module: vec0".
    sqliteVec.load(sqlite);
    configureSqliteConnection(sqlite);
    // Kysely opens its transactions with a deferred `begin`. The shared writer's thread commits on
    // its own connection between two statements of such a transaction, and a deferred transaction
    // that read before that commit can then not write (SQLITE_BUSY at once, no retry): taking the
    // write lock at `begin` makes it wait for the writer's transaction instead, as a second
    // process's would.
    const database = {
      close: () => sqlite.close(),
      prepare: (text: string) => sqlite.prepare(text === "begin" ? "begin immediate" : text),
    };
    store = {
      db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
      dialect: "sqlite",
      sqlite,
      destroy: async () => {
        await closeSqliteWriter(sqlite);
        await store.db.destroy();
      },
    };
  }
  if (options.migrate !== false) {
    try {
      await migrateStore(store);
    } catch (error) {
      await store.destroy();
      throw error;
    }
  }
  return store;
}

/** Applies every pending migration in order; refuses a database newer than this code. */
export async function migrateStore(store: Store): Promise<void> {
  // Kysely looks for its tables in every schema unless told which one: with two Bastion schemas on
  // one PostgreSQL server (tests, or tenants of a shared cluster) it would find the other's and fail.
  const schema =
    store.dialect === "postgres"
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: store.db,
    provider: { getMigrations: async () => migrations(store.dialect) },
    migrationTableName: "bastion_migrations",
    migrationLockTableName: "bastion_migrations_lock",
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const known = new Set(Object.keys(migrations(store.dialect)));
  const applied = await sql<{
    name: string;
  }>`select name from ${sql.table(schema === undefined ? "bastion_migrations" : `${schema}.bastion_migrations`)}`
    .execute(store.db)
    .then((result) => result.rows.map((row) => row.name))
    .catch(() => [] as string[]);
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new BastionError(
      "invalid_request",
      `The database was written by a newer Bastion (it has migration ${unknown[0]}, which this version does not know). Upgrade Bastion, or point it at another database.`,
    );
  }
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((entry) => entry.status === "Error");
    throw new BastionError(
      "internal_error",
      `Database migration ${failed?.migrationName ?? ""} failed: ${(result.error as Error).message}`,
      { cause: result.error },
    );
  }
}
