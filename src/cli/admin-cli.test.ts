import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConfiguredStore } from "../auth/control-plane.ts";
import { createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { configSchema } from "../config/config.ts";
import { createApp } from "../server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import type { Store } from "../store/database.ts";
import { parseExpiry } from "./keys.ts";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
let dataDir: string;

async function bastion(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, BASTION_DATA_DIR: dataDir, BASTION_API_KEY: "", DATABASE_URL: "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "bastion-admin-cli-"));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("bastion tenants, users, keys", () => {
  let keyId: string;
  let secret: string;

  it("work on the data directory's database directly", async () => {
    const tenant = await bastion(["tenants", "create", "acme", "--name", "ACME", "--budget-hard", "50"]);
    expect(tenant.stderr).toBe("");
    expect(tenant.stdout).toMatch(/acme\s+ACME/);
    const user = await bastion([
      "users",
      "create",
      "ops@acme.example",
      "--tenant",
      "acme",
      "--role",
      "admin",
      "--json",
    ]);
    const created = JSON.parse(user.stdout);
    expect(created).toMatchObject({ tenant_id: "acme", email: "ops@acme.example", roles: ["admin"] });
    const key = await bastion([
      "keys",
      "create",
      "ci",
      "--tenant",
      "acme",
      "--models",
      "chat-model",
      "--rpm",
      "30",
      "--expires",
      "30d",
      "--json",
    ]);
    expect(key.code).toBe(0);
    const parsed = JSON.parse(key.stdout);
    keyId = parsed.id;
    secret = parsed.secret;
    expect(secret).toMatch(/^bst_live_/);
    expect(parsed).toMatchObject({ scopes: { models: ["chat-model"] }, limits: { rpm: 30 } });
    const list = await bastion(["keys", "list", "--tenant", "acme"]);
    expect(list.stdout).toContain(keyId);
    expect(list.stdout).toContain(parsed.prefix);
    expect(list.stdout).not.toContain(secret);
    const erased = await bastion(["users", "delete", created.id, "--erase"]);
    expect(erased.stderr).toBe("");
    expect(erased.stdout).toContain(`Deleted user ${created.id} and erased their personal data.`);
    expect((await bastion(["users", "list", "--json"])).stdout).not.toContain("ops@acme.example");
    const refused = await bastion(["tenants", "create", "Bad Id"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/400: .*id/);
  });

  describe("against a running server", () => {
    let store: Store;
    let server: RunningServer;
    let adminKey: string;
    beforeAll(async () => {
      const config = configSchema.parse({});
      store = await openConfiguredStore(config, { dataDir, env: {} });
      await ensureDefaultTenant(store);
      const auth = createAuth({ store, config, env: {} });
      adminKey = (
        await auth.admin.createKey(
          { tenantId: "default", roles: ["admin"] },
          { name: "root", roles: ["admin"] },
        )
      ).secret;
      const registry = createStaticRegistry([createScriptedBackend({ id: "chat-model" })]);
      server = await startServer(createApp({ registry, auth, web: false }));
    });
    afterAll(async () => {
      await server?.close();
      await store?.destroy();
    });

    it("revokes a key with --url, and the key fails on its next request", async () => {
      expect(
        (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status,
      ).toBe(200);
      const unauthenticated = await bastion(["keys", "list", "--url", server.url]);
      expect(unauthenticated.code).not.toBe(0);
      expect(unauthenticated.stderr).toMatch(/401/);
      const revoked = await bastion(["keys", "revoke", keyId, "--url", `${server.url}/v1`, "--json"], {
        BASTION_API_KEY: adminKey,
      });
      expect(revoked.code).toBe(0);
      expect(JSON.parse(revoked.stdout).revoked_at).toEqual(expect.any(String));
      expect(
        (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status,
      ).toBe(401);
    });
  });
});

describe("parseExpiry", () => {
  it("reads relative durations, dates and never", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseExpiry("30d", now)).toBe("2026-01-31T00:00:00.000Z");
    expect(parseExpiry("12h", now)).toBe("2026-01-01T12:00:00.000Z");
    expect(parseExpiry("2027-02-03", now)).toBe("2027-02-03T00:00:00.000Z");
    expect(parseExpiry("never", now)).toBeNull();
    expect(() => parseExpiry("soon", now)).toThrow(/--expires takes/);
  });
});
