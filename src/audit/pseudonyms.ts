import { createHmac, randomBytes } from "node:crypto";
import type { Store } from "../store/database.ts";

/**
 * Keyed pseudonyms for the audit log: a user appears as HMAC-SHA-256(secret of that user, id),
 * and the secrets live in their own table, apart from the chain. Deleting a user's secret
 * (GDPR Art. 17) makes every record about them anonymous without touching a hashed byte.
 */
export interface Pseudonyms {
  /** `u_…` for a user id; created on first use. */
  user(userId: string): Promise<string>;
  /** `k_…` for a key id, keyed by its user's secret so that erasing the user unlinks the key too. */
  key(keyId: string, userId?: string): Promise<string>;
  /**
   * The user's pseudonym if they have a secret, read from the database every time (no cache, no
   * new secret): what searches use, so that an instance that still caches an erased user's secret
   * cannot link their records again.
   */
  find(userId: string): Promise<string | undefined>;
  /** Deletes the user's secret; returns whether there was one. */
  erase(userId: string): Promise<boolean>;
}

const digest = (secret: string, text: string): string =>
  createHmac("sha256", Buffer.from(secret, "base64")).update(text).digest("hex").slice(0, 32);

export function createPseudonyms(store: Store): Pseudonyms {
  const secrets = new Map<string, string>();

  async function secretOf(userId: string): Promise<string> {
    const cached = secrets.get(userId);
    if (cached !== undefined) return cached;
    // Insert-or-keep, then read: two instances asking at once agree on the first secret written.
    await store.db
      .insertInto("audit_subjects")
      .values({
        user_id: userId,
        secret: randomBytes(32).toString("base64"),
        created_at: new Date().toISOString(),
      })
      .onConflict((conflict) => conflict.column("user_id").doNothing())
      .execute();
    const row = await store.db
      .selectFrom("audit_subjects")
      .select("secret")
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
    secrets.set(userId, row.secret);
    return row.secret;
  }

  return {
    async user(userId) {
      return `u_${digest(await secretOf(userId), `user:${userId}`)}`;
    },
    async key(keyId, userId) {
      // A tenant's service key names no person: its id stays as it is.
      if (userId === undefined) return keyId;
      return `k_${digest(await secretOf(userId), `key:${keyId}`)}`;
    },
    async find(userId) {
      const row = await store.db
        .selectFrom("audit_subjects")
        .select("secret")
        .where("user_id", "=", userId)
        .executeTakeFirst();
      return row === undefined ? undefined : `u_${digest(row.secret, `user:${userId}`)}`;
    },
    async erase(userId) {
      secrets.delete(userId);
      const result = await store.db
        .deleteFrom("audit_subjects")
        .where("user_id", "=", userId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
