import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore, type Store } from "./database.ts";

export interface TestDatabase {
  name: "sqlite" | "postgres";
  open: () => Promise<Store>;
  /**
   * Two stores on one database, as two Bastion instances would have: a SQLite file opened twice,
   * or two pools on one PostgreSQL schema. Destroying both cleans up.
   */
  openTwo: () => Promise<[Store, Store]>;
}

/**
 * The databases a store test runs on: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
 * Use with `describe.each(testDatabases())`.
 */
export function testDatabases(): TestDatabase[] {
  const list: TestDatabase[] = [
    {
      name: "sqlite",
      open: () => openStore({ sqlitePath: ":memory:" }),
      openTwo: async () => {
        const dir = mkdtempSync(join(tmpdir(), "bastion-store-"));
        const path = join(dir, "bastion.db");
        const first = await openStore({ sqlitePath: path });
        const second = await openStore({ sqlitePath: path });
        let open = 2;
        for (const store of [first, second]) {
          const destroy = store.destroy;
          store.destroy = async () => {
            await destroy();
            if (--open === 0) rmSync(dir, { recursive: true, force: true });
          };
        }
        return [first, second];
      },
    },
  ];
  const url = process.env.TEST_DATABASE_URL;
  if (url !== undefined && url !== "") {
    list.push({
      name: "postgres",
      open: () => openFreshPostgres(url),
      openTwo: async () => {
        const first = await openFreshPostgres(url);
        const scoped = first.databaseUrl;
        const second = await openStore({ databaseUrl: scoped });
        const destroyFirst = first.destroy;
        // The schema is dropped when the first store goes, so the second must go before it.
        first.destroy = async () => {
          await second.destroy().catch(() => {});
          await destroyFirst();
        };
        return [first, second];
      },
    });
  }
  return list;
}

/**
 * A store on a fresh PostgreSQL schema of its own, so that tests never see each other's rows;
 * the schema is dropped when the store is destroyed.
 */
export async function openFreshPostgres(url: string): Promise<Store & { databaseUrl: string }> {
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
  return Object.assign(store, { databaseUrl: scoped.toString() });
}
