import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuth, ensureDefaultTenant } from "../src/auth/index.ts";
import { configSchema } from "../src/config/config.ts";
import { BastionError } from "../src/core/errors.ts";
import { anonymousPrincipal, type Principal } from "../src/core/principal.ts";
import type { Store } from "../src/store/database.ts";
import { testDatabases } from "../src/store/test-databases.ts";

/*
 * Regression (audit of issue 8 on a clean clone): a key's `scopes.policies` took any name, so a
 * misspelt policy was stored and the key could never pick it, while a misspelt `policy` was refused.
 */
describe.each(testDatabases())("admin service on $name", ({ open }) => {
  let store: Store;
  const policyNames = ["eu-strict", "local-only", "eu-open"];

  beforeAll(async () => {
    store = await open();
    await ensureDefaultTenant(store);
  });
  afterAll(async () => {
    await store?.destroy();
  });

  it("refuses a key whose policy scope names a policy that does not exist, on create and update", async () => {
    const { admin } = createAuth({ store, config: configSchema.parse({}), env: {}, policyNames });
    const refusal = await admin
      .createKey(anonymousPrincipal, { name: "typo", scopes: { policies: ["eu-stirct"] } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refusal).toBeInstanceOf(BastionError);
    expect(refusal).toMatchObject({ code: "invalid_request", param: "scopes.policies" });
    expect((refusal as Error).message).toMatch(
      /No policy named 'eu-stirct' in scopes\.policies; known policies: eu-strict, local-only, eu-open/,
    );
    expect(await admin.listKeys(anonymousPrincipal)).toEqual([]);

    const key = await admin.createKey(anonymousPrincipal, {
      name: "ok",
      scopes: { policies: ["eu-strict", "eu-*"] },
    });
    expect(key.scopes).toEqual({ policies: ["eu-strict", "eu-*"] });
    await expect(
      admin.updateKey(anonymousPrincipal, key.id, { scopes: { policies: ["nope"] } }),
    ).rejects.toMatchObject({ code: "invalid_request", param: "scopes.policies" });
    expect((await admin.getKey(anonymousPrincipal, key.id)).scopes).toEqual({
      policies: ["eu-strict", "eu-*"],
    });
  });

  // Regression: a tenant's admin, who may not change the tenant's policy, gave their keys a laxer one
  // (tenant local-only, key eu-open: its answers said "kept within local/EU/EEA" instead of "local").
  it("lets only platform admins give a key a policy other than its tenant's", async () => {
    const { admin } = createAuth({ store, config: configSchema.parse({}), env: {}, policyNames });
    await admin.createTenant(anonymousPrincipal, { id: "acme", name: "ACME", policy: "local-only" });
    const acmeAdmin: Principal = { tenantId: "acme", roles: ["admin"], keyId: "key_acme_admin" };
    for (const body of [
      { name: "lax", policy: "eu-open" },
      { name: "lax", scopes: { policies: ["eu-open"] } },
      { name: "lax", scopes: { policies: ["eu-*"] } },
    ])
      await expect(admin.createKey(acmeAdmin, body)).rejects.toMatchObject({ code: "forbidden" });
    // The tenant's own policy, or none (inherit), is theirs to give.
    const own = await admin.createKey(acmeAdmin, {
      name: "own",
      policy: "local-only",
      scopes: { policies: ["local-only"] },
    });
    await expect(admin.updateKey(acmeAdmin, own.id, { policy: "eu-open" })).rejects.toMatchObject({
      code: "forbidden",
      param: "policy",
    });
    expect((await admin.updateKey(acmeAdmin, own.id, { name: "renamed", policy: null })).policy).toBeNull();

    // What the platform set on a key stays editable around it: other fields, or the same policy again.
    const granted = await admin.createKey(anonymousPrincipal, {
      name: "granted",
      tenant_id: "acme",
      policy: "eu-strict",
      scopes: { policies: ["eu-strict"] },
    });
    const renamed = await admin.updateKey(acmeAdmin, granted.id, {
      name: "granted-2",
      policy: "eu-strict",
      scopes: { policies: ["eu-strict"] },
    });
    expect(renamed).toMatchObject({ name: "granted-2", policy: "eu-strict" });
    await expect(
      admin.updateKey(acmeAdmin, granted.id, { scopes: { policies: ["eu-strict", "eu-open"] } }),
    ).rejects.toMatchObject({ code: "forbidden", param: "scopes.policies" });
  });
});

// Regression: the server's control plane (openControlPlane, what `bastion serve` builds) did not
// pass the configured policy names to the admin service, so POST /admin/v1/keys {"policy":"nope"}
// answered 201 (the CLI refused it) and every request of that key then failed with a 403.
describe("the server's control plane", () => {
  it("refuses a key or tenant naming a policy that does not exist", async () => {
    const { openControlPlane } = await import("../src/auth/control-plane.ts");
    const { openStore } = await import("../src/store/database.ts");
    const store = await openStore({ sqlitePath: ":memory:" });
    const plane = await openControlPlane({
      config: configSchema.parse({}),
      dataDir: "/nonexistent",
      env: {},
      store,
    });
    try {
      await ensureDefaultTenant(store);
      await expect(
        plane.auth.admin.createKey(anonymousPrincipal, { name: "typo", policy: "nope" }),
      ).rejects.toMatchObject({ code: "invalid_request", param: "policy" });
      await expect(
        plane.auth.admin.createTenant(anonymousPrincipal, { id: "acme", name: "ACME", policy: "nope" }),
      ).rejects.toMatchObject({ code: "invalid_request" });
      const ok = await plane.auth.admin.createKey(anonymousPrincipal, { name: "ok", policy: "local-only" });
      expect(ok.policy).toBe("local-only");
    } finally {
      await plane.dispose();
      await store.destroy();
    }
  });
});
