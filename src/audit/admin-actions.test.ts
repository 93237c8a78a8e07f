import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createAdminService } from "../auth/admin-service.ts";
import { configSchema } from "../config/config.ts";
import type { Principal } from "../core/principal.ts";
import { createMeteringServices } from "../metering/services.ts";
import { testDatabases } from "../store/test-databases.ts";

const platformAdmin: Principal = { tenantId: "default", userId: "usr_root", roles: ["admin"] };

describe.each(testDatabases())("admin actions in the audit log on $name", ({ open }) => {
  it("records key and user changes and erasure by pseudonym, without personal data, and the chain verifies", async () => {
    const store = await open();
    const dataDir = mkdtempSync(join(tmpdir(), "bastion-admin-audit-"));
    const services = createMeteringServices({ config: configSchema.parse({}), store, dataDir });
    try {
      await store.db
        .insertInto("tenants")
        .values({
          id: "default",
          name: "Default",
          policy: null,
          limits: "{}",
          created_at: "2026-01-01T00:00:00.000Z",
          updated_at: "2026-01-01T00:00:00.000Z",
        })
        .onConflict((conflict) => conflict.column("id").doNothing())
        .execute();
      const admin = createAdminService(store);
      services.attachAdmin(admin);
      const tenant = await admin.createTenant(platformAdmin, { id: "acme", name: "ACME Corp" });
      const user = await admin.createUser(platformAdmin, {
        tenant_id: tenant.id,
        email: "jeanne.martin@acme.example",
        name: "Jeanne Martin",
      });
      const key = await admin.createKey(platformAdmin, {
        tenant_id: tenant.id,
        user_id: user.id,
        name: "laptop",
      });
      await admin.revokeKey(platformAdmin, key.id);
      // A request by that user, metered, then the user erased.
      await services.recorder.record({
        requestId: "req-1",
        startedAt: new Date(),
        endpoint: "/v1/chat/completions",
        principal: { tenantId: "acme", userId: user.id, keyId: key.id, roles: ["member"] },
        requestedModel: "m",
        model: "m",
        backend: "m",
        backendKind: "local",
        jurisdiction: { country: "local", zone: "local", operator: "this server" },
        policy: { policy: "none", dataClass: "public", action: "allow", detections: {}, summary: "" },
        usage: { promptTokens: 3, completionTokens: 2, reasoningTokens: 0, cachedPromptTokens: 0 },
        timings: { queueMs: 0, ttftMs: 1, totalMs: 2, busyMs: 2 },
        status: "ok",
      });
      const actorBefore = (await services.audit!.list({ user: user.id }))[0]!.record.actor;
      await admin.deleteUser(platformAdmin, user.id, { erase: true });

      const records = await services.audit!.list();
      const actions = records.map((record) => record.record.action ?? record.record.type);
      expect(actions).toEqual([
        "tenant.created",
        "user.created",
        "key.created",
        "key.revoked",
        "request",
        "user.erased",
      ]);
      const text = JSON.stringify(records);
      for (const personal of ["jeanne.martin@acme.example", "Jeanne Martin", user.id, "usr_root", key.secret])
        expect(text).not.toContain(personal);
      expect(records[5]!.record).toMatchObject({
        target: { type: "user", id: actorBefore },
        tenant: "default",
      });
      expect(records[2]!.record).toMatchObject({ target: { type: "key", id: key.id }, tenant: "acme" });
      // Erased: the pseudonym secret is gone, the usage row no longer names the user, the chain verifies.
      expect(await services.audit!.list({ user: user.id })).toEqual([]);
      expect((await services.usage.report({ groupBy: ["user"] })).map((row) => row.user)).toEqual([null]);
      expect(await services.verifyAudit()).toMatchObject({ ok: true, records: 6 });
    } finally {
      await services.close();
      await store.destroy();
    }
  });
});
