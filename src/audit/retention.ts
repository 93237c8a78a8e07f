import type { Store } from "../store/database.ts";

/**
 * Deletes audit records created before `cutoff`, but only up to a signed checkpoint, so that the
 * first kept record stays anchored: verification starts from that checkpoint's root hash. Older
 * checkpoints go too; the anchor stays. The newest record is never deleted (the chain continues
 * from it). Returns the sequence number up to which records were deleted, or 0.
 */
export async function pruneAuditLog(store: Store, cutoff: Date): Promise<number> {
  const head = await store.db
    .selectFrom("audit_log")
    .select("seq")
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  if (head === undefined) return 0;
  const anchor = await store.db
    .selectFrom("audit_checkpoints")
    .innerJoin("audit_log", "audit_log.seq", "audit_checkpoints.size")
    .select("audit_checkpoints.size")
    .where("audit_log.created_at", "<", cutoff.toISOString())
    .where("audit_checkpoints.size", "<", Number(head.seq))
    .orderBy("audit_checkpoints.size", "desc")
    .limit(1)
    .executeTakeFirst();
  if (anchor === undefined) return 0;
  const upTo = Number(anchor.size);
  await store.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("audit_log").where("seq", "<=", upTo).execute();
    await trx.deleteFrom("audit_checkpoints").where("size", "<", upTo).execute();
  });
  return upTo;
}
