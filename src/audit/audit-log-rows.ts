import type { Store } from "../store/database.ts";

/**
 * Every audit record row in sequence order, read a page at a time so that a long log is never
 * held in memory whole (verification and export both walk it this way).
 */
export async function* auditLogRows(db: Store["db"], pageSize: number) {
  for (let after = 0; ; ) {
    const rows = await db
      .selectFrom("audit_log")
      .selectAll()
      .where("seq", ">", after)
      .orderBy("seq", "asc")
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    yield* rows;
    after = Number(rows.at(-1)!.seq);
  }
}
