import { randomBytes } from "node:crypto";
import pg from "pg";
import { openStore, type Store } from "./database.ts";

/**
 * The databases a store test runs on: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
 * Use with `describe.each(testDatabases())`.
 */
export function testDatabases(): Array<{ name: "sqlite" | "postgres"; open: () => Promise<Store> }> {
  const list: Array<{ name: "sqlite" | "postgres"; open: () => Promise<Store> }> = [
    { name: "sqlite", open: () => openStore({ sqlitePath: ":memory:" }) },
  ];
  const url = process.env.TEST_DATABASE_URL;
  if (url !== undefined && url !== "") list.push({ name: "postgres", open: () => openFreshPostgres(url) });
  return list;
}

/**
 * A store on a fresh PostgreSQL schema of its own, so that tests never see each other's rows;
 * the schema is dropped when the store is destroyed.
 */
export async function openFreshPostgres(url: string): Promise<Store> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const scoped = new URL(url);
  scoped.searchParams.set("options", `-c search_path=${schema}`);
  const store = await openStore({ databaseUrl: scoped.toString() });
  const destroy = store.destroy;
  store.destroy = async () => {
    await destroy();
    const cleanup = new pg.Client({ connectionString: url });
    await cleanup.connect();
    await cleanup.query(`drop schema ${schema} cascade`);
    await cleanup.end();
  };
  return store;
}
