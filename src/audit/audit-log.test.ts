import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createAuditLog } from "./audit-log.ts";
import { auditKeyPath, openAuditLog, pruneAuditLog, verifyAudit } from "./index.ts";
import { loadOrCreateSigner } from "./signer.ts";

const priced = { costEur: 0.001, energyWh: 0.5, co2eG: 0.1, referenceCostEur: 0.01, savedEur: 0.009 };

function request(index: number, userId = "user-1"): CompletedRequest {
  return {
    requestId: `req-${index}`,
    startedAt: new Date(),
    endpoint: "/v1/chat/completions",
    principal: { tenantId: "t1", userId, keyId: "key-1", roles: ["member"] },
    requestedModel: "default",
    model: "tiny",
    backend: "tiny",
    backendKind: "local",
    jurisdiction: { country: "local", zone: "local", operator: "this server" },
    policy: {
      policy: "eu",
      dataClass: "personal",
      action: "keep-local",
      detections: { email: 2 },
      summary: "",
    },
    usage: { promptTokens: 10, completionTokens: 5, reasoningTokens: 0, cachedPromptTokens: 0 },
    timings: { queueMs: 1, ttftMs: 2, totalMs: 3, busyMs: 2 },
    status: "ok",
  };
}

const auditConfig = configSchema.parse({ audit: { checkpointEvery: 3, checkpointSeconds: 3600 } }).audit;

async function fixture(open: () => Promise<Store>, count = 8) {
  const store = await open();
  const dataDir = mkdtempSync(join(tmpdir(), "bastion-audit-"));
  const log = openAuditLog({ config: auditConfig, store, dataDir });
  for (let index = 1; index <= count; index++) await log.appendRequest(request(index), priced);
  await log.close();
  const verify = () => verifyAudit({ config: auditConfig, store, dataDir });
  return { store, dataDir, log, verify };
}

describe.each(testDatabases())("audit log on $name", ({ open, openTwo }) => {
  it("chains records, signs checkpoints with a 0600 key, and verifies", async () => {
    const { store, dataDir, verify } = await fixture(open);
    try {
      const result = await verify();
      expect(result).toMatchObject({ ok: true, records: 8 });
      // Every 3 records and on close: sizes 3, 6 and 8.
      expect(result.checkpoints).toBe(3);
      expect(statSync(auditKeyPath(auditConfig, dataDir)).mode & 0o777).toBe(0o600);
      const note = (
        await store.db
          .selectFrom("audit_checkpoints")
          .select("note")
          .where("size", "=", 8)
          .executeTakeFirstOrThrow()
      ).note;
      expect(note).toMatch(
        /^bastion\/audit\n8\n[A-Za-z0-9+/]{43}=\n\n\u2014 bastion\/audit [A-Za-z0-9+/=]+\n$/,
      );
    } finally {
      await store.destroy();
    }
  });

  it("holds no user id, prompt or detected value: only pseudonyms and counts", async () => {
    const { store } = await fixture(open, 1);
    try {
      const row = await store.db.selectFrom("audit_log").selectAll().executeTakeFirstOrThrow();
      expect(row.body).not.toContain("user-1");
      expect(row.body).not.toContain("key-1");
      const body = JSON.parse(row.body);
      expect(body.actor).toMatch(/^u_[0-9a-f]{32}$/);
      expect(body.policy).toEqual({
        name: "eu",
        data_class: "personal",
        action: "keep-local",
        detections: { email: 2 },
      });
      expect(body).toMatchObject({
        tenant: "t1",
        model: "tiny",
        tokens: { input: 10, output: 5 },
        energy_wh: 0.5,
      });
    } finally {
      await store.destroy();
    }
  });

  const tamperings: Array<[string, (store: Store) => Promise<void>, number, RegExp]> = [
    [
      "an edited body",
      (store) =>
        sql`update audit_log set body = replace(body, '"input":10', '"input":11') where seq = 4`
          .execute(store.db)
          .then(() => {}),
      4,
      /altered/,
    ],
    [
      "a deleted record",
      (store) =>
        store.db
          .deleteFrom("audit_log")
          .where("seq", "=", 5)
          .execute()
          .then(() => {}),
      5,
      /missing/,
    ],
    [
      "two records swapped",
      async (store) => {
        await sql`update audit_log set seq = -1 where seq = 5`.execute(store.db);
        await sql`update audit_log set seq = 5 where seq = 6`.execute(store.db);
        await sql`update audit_log set seq = 6 where seq = -1`.execute(store.db);
      },
      5,
      /does not follow/,
    ],
    [
      "a truncated tail",
      (store) =>
        store.db
          .deleteFrom("audit_log")
          .where("seq", ">=", 7)
          .execute()
          .then(() => {}),
      7,
      /truncated/,
    ],
    [
      "a rewritten chain (hashes recomputed, signature no longer matches)",
      async (store) => {
        const { createHash } = await import("node:crypto");
        const rows = await store.db.selectFrom("audit_log").selectAll().orderBy("seq").execute();
        let prev = "0".repeat(64);
        for (const row of rows) {
          const body = Number(row.seq) === 2 ? row.body.replace('"output":5', '"output":50') : row.body;
          const hash = createHash("sha256")
            .update(`${prev}\n${Number(row.seq)}\n${row.created_at}\n${row.kind}\n${body}`)
            .digest("hex");
          await store.db
            .updateTable("audit_log")
            .set({ body, prev_hash: prev, hash })
            .where("seq", "=", row.seq)
            .execute();
          prev = hash;
        }
      },
      3,
      /signed checkpoint/,
    ],
    [
      "a forged checkpoint signature",
      (store) =>
        sql`update audit_checkpoints set note = replace(note, substr(note, length(note) - 10, 4), 'AAAA') where size = 6`
          .execute(store.db)
          .then(() => {}),
      6,
      /signature/,
    ],
    [
      "an edited filter column",
      (store) =>
        store.db
          .updateTable("audit_log")
          .set({ model: "other" })
          .where("seq", "=", 2)
          .execute()
          .then(() => {}),
      2,
      /model column/,
    ],
  ];

  it.each(tamperings)("detects %s and names the first bad record", async (_label, tamper, seq, reason) => {
    const { store, verify } = await fixture(open);
    try {
      await tamper(store);
      const result = await verify();
      expect(result.ok).toBe(false);
      expect(result.first_bad?.seq).toBe(seq);
      expect(result.first_bad?.reason).toMatch(reason);
    } finally {
      await store.destroy();
    }
  });

  it("refuses checkpoints signed by a key it does not trust", async () => {
    const { store, verify } = await fixture(open, 3);
    try {
      const stranger = loadOrCreateSigner(
        join(mkdtempSync(join(tmpdir(), "bastion-key-")), "k.pem"),
        "bastion/audit",
      );
      const row = await store.db
        .selectFrom("audit_log")
        .select("hash")
        .where("seq", "=", 3)
        .executeTakeFirstOrThrow();
      const { checkpointText } = await import("./signer.ts");
      await store.db
        .updateTable("audit_checkpoints")
        .set({ note: stranger.sign(checkpointText("bastion/audit", 3, row.hash)) })
        .where("size", "=", 3)
        .execute();
      expect((await verify()).first_bad?.reason).toMatch(/no signature by a trusted key/);
    } finally {
      await store.destroy();
    }
  });

  it("erases a user: their pseudonym can no longer be linked, and the chain still verifies", async () => {
    const { store, dataDir, verify } = await fixture(open, 2);
    try {
      const log = openAuditLog({ config: auditConfig, store, dataDir });
      const before = await log.list({ user: "user-1" });
      expect(before).toHaveLength(2);
      await log.eraseUser("user-1");
      await log.close();
      expect(
        await store.db.selectFrom("audit_subjects").selectAll().where("user_id", "=", "user-1").execute(),
      ).toEqual([]);
      // Asking for the same user now finds nothing: no secret, no link (and none is created).
      const after = await openAuditLog({ config: auditConfig, store, dataDir }).list({ user: "user-1" });
      expect(after).toEqual([]);
      expect(
        await store.db.selectFrom("audit_subjects").selectAll().where("user_id", "=", "user-1").execute(),
      ).toEqual([]);
      const erased = (await log.list({ after: 2 }))[0]!;
      expect(erased.record).toMatchObject({
        type: "admin",
        action: "user.erased",
        target: { type: "user", id: before[0]!.record.actor },
      });
      expect(await verify()).toMatchObject({ ok: true, records: 3 });
    } finally {
      await store.destroy();
    }
  });

  it("prunes past retention down to a signed anchor, keeps verifying, and continues the chain", async () => {
    const { store, dataDir, verify } = await fixture(open, 8);
    try {
      const upTo = await pruneAuditLog(store, new Date(Date.now() + 60_000));
      expect(upTo).toBe(6);
      expect(await verify()).toMatchObject({ ok: true, records: 2 });
      const log = openAuditLog({ config: auditConfig, store, dataDir });
      await log.appendRequest(request(9), priced);
      await log.close();
      expect(await verify()).toMatchObject({ ok: true, records: 3, head: { seq: 9 } });
      // Deleting the anchor leaves the first kept record unanchored.
      await store.db.deleteFrom("audit_checkpoints").where("size", "=", 6).execute();
      expect((await verify()).first_bad?.reason).toMatch(/no signed checkpoint anchors record 7/);
    } finally {
      await store.destroy();
    }
  });

  it("keeps one chain when many appends race in one process (group commit)", async () => {
    const { store, dataDir, verify } = await fixture(open, 0);
    try {
      const log = openAuditLog({ config: auditConfig, store, dataDir });
      const seqs = await Promise.all(
        Array.from({ length: 60 }, (_, index) => log.appendRequest(request(index), priced)),
      );
      await log.close();
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, index) => index + 1));
      expect(await verify()).toMatchObject({ ok: true, records: 60 });
    } finally {
      await store.destroy();
    }
  });

  it("keeps one valid chain when two instances append at once (SQLite: a writer thread each)", async () => {
    const [first, second] = await openTwo();
    try {
      const dataDir = mkdtempSync(join(tmpdir(), "bastion-audit-"));
      const signer = loadOrCreateSigner(auditKeyPath(auditConfig, dataDir), auditConfig.origin);
      const logs = [first, second].map((store) =>
        createAuditLog({
          store,
          signer,
          origin: auditConfig.origin,
          checkpointEvery: 25,
          checkpointSeconds: 0,
        }),
      );
      await Promise.all(
        Array.from({ length: 100 }, (_, index) => logs[index % 2]!.appendRequest(request(index), priced)),
      );
      // An admin event through each instance while the other appends.
      await Promise.all([
        logs[0]!.appendEvent({ action: "key.revoked", target: { type: "key", id: "k1" } }),
        ...Array.from({ length: 10 }, (_, index) => logs[1]!.appendRequest(request(100 + index), priced)),
      ]);
      for (const log of logs) await log.close();
      const result = await verifyAudit({ config: auditConfig, store: first, dataDir });
      expect(result).toMatchObject({ ok: true, records: 111 });
      expect(readFileSync(auditKeyPath(auditConfig, dataDir), "utf8")).toContain("PRIVATE KEY");
    } finally {
      await second.destroy();
      await first.destroy();
    }
  });
});
