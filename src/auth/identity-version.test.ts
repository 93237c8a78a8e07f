import { describe, expect, it } from "vitest";
import { anonymousPrincipal } from "../core/principal.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createAdminService } from "./admin-service.ts";
import { createAuthenticator } from "./authenticator.ts";
import { ensureDefaultTenant } from "./bootstrap.ts";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe.each(testDatabases())("the key cache on $name", ({ name, openTwo }) => {
  it("does not take rows a rolled-back change showed for current after another connection's change", async () => {
    const [first, second] = await openTwo();
    try {
      await ensureDefaultTenant(second);
      const auth = createAuthenticator({ store: first });
      const elsewhere = createAdminService(second);
      const key = await elsewhere.createKey(anonymousPrincipal, { name: "kept", roles: ["member"] });
      expect((await auth.fromKey(key.secret)).keyName).toBe("kept");
      if (name === "sqlite") {
        // The cache reads on the store's own connection, which sees that connection's uncommitted
        // writes: a request read during a change that then rolls back caches what was undone.
        const sqlite = first.sqlite!;
        sqlite.exec("begin");
        sqlite.prepare("update api_keys set name = 'undone' where id = ?").run(key.id);
        await nextTurn();
        expect((await auth.fromKey(key.secret)).keyName).toBe("undone");
        sqlite.exec("rollback");
        await nextTurn();
      }
      // Another connection (`bastion keys revoke` in another process, another instance) changes one
      // identity: with a counting version it read the value the rolled-back change had shown.
      await elsewhere.revokeKey(anonymousPrincipal, key.id);
      await nextTurn();
      await expect(auth.fromKey(key.secret)).rejects.toThrow(/revoked/);
    } finally {
      await second.destroy();
      await first.destroy();
    }
  });
});
