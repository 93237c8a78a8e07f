import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuth, ensureDefaultTenant } from "../src/auth/index.ts";
import { configSchema } from "../src/config/config.ts";
import { BastionError } from "../src/core/errors.ts";
import { anonymousPrincipal } from "../src/core/principal.ts";
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
});
