import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openStore } from "./database.ts";
import { testDatabases } from "./test-databases.ts";

describe.each(testDatabases())("store on $name", ({ open }) => {
  it("opens, migrates and answers a query", async () => {
    const store = await open();
    try {
      const result = await sql<{ one: number }>`select 1 as one`.execute(store.db);
      expect(Number(result.rows[0]?.one)).toBe(1);
    } finally {
      await store.destroy();
    }
  });
});

describe("store migrations", () => {
  it("refuses a database written by a newer Bastion", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "bastion-store-")), "bastion.db");
    const first = await openStore({ sqlitePath: path });
    await sql`create table if not exists bastion_migrations (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(
      first.db,
    );
    await sql`insert into bastion_migrations (name, timestamp) values ('9999_from_the_future', 'x')`.execute(
      first.db,
    );
    await first.destroy();
    await expect(openStore({ sqlitePath: path })).rejects.toThrow(/newer Bastion.*9999_from_the_future/);
  });
});
