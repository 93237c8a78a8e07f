import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { announceAuth } from "./announce.ts";
import { hashApiKey } from "./api-keys.ts";
import { bootstrapAdminKey } from "./bootstrap.ts";
import { createAuth, isLoopbackHost } from "./index.ts";
import { chatBody, startAuthFixture } from "./test-setup.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(open: () => Promise<Store>) {
  const store = await open();
  const dataDir = await mkdtemp(join(tmpdir(), "bastion-bootstrap-"));
  cleanups.push(async () => {
    await store.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { store, dataDir };
}

describe.each(testDatabases())("first start on $name", ({ open }) => {
  it("creates one admin key, saves it 0600, stores only its hash, and never again", async () => {
    const { store, dataDir } = await setup(open);
    const first = await bootstrapAdminKey({ store, dataDir, env: {} });
    expect(first.created?.secret).toMatch(/^bst_live_/);
    const file = join(dataDir, "admin-key");
    expect((await readFile(file, "utf8")).trim()).toBe(first.created!.secret);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const rows = await store.db.selectFrom("api_keys").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hash).toBe(hashApiKey(first.created!.secret));
    expect(JSON.stringify(rows)).not.toContain(first.created!.secret.slice(18));
    // Several instances starting at once on one database still make one key.
    const again = await Promise.all([1, 2, 3].map(() => bootstrapAdminKey({ store, dataDir, env: {} })));
    expect(again.every((result) => result.created === undefined)).toBe(true);
    expect(await store.db.selectFrom("api_keys").selectAll().execute()).toHaveLength(1);
    const auth = createAuth({ store, config: configSchema.parse({}), env: {} });
    const context = await auth.authenticator.fromKey(first.created!.secret);
    expect(context.principal).toMatchObject({ tenantId: "default", roles: ["admin"] });
  });

  it("accepts BASTION_ADMIN_KEY as an admin key instead of creating one", async () => {
    const { store, dataDir } = await setup(open);
    const env = { BASTION_ADMIN_KEY: "an operator's own secret, long enough" };
    expect(await bootstrapAdminKey({ store, dataDir, env })).toEqual({});
    expect(await store.db.selectFrom("api_keys").selectAll().execute()).toHaveLength(0);
    const auth = createAuth({ store, config: configSchema.parse({}), env });
    const context = await auth.authenticator.fromKey(env.BASTION_ADMIN_KEY);
    expect(context.principal).toMatchObject({ tenantId: "default", roles: ["admin"], keyId: "bootstrap" });
    await expect(auth.authenticator.fromKey("an operator's own secret, long enougH")).rejects.toThrow(
      /Invalid API key/,
    );
    expect(() =>
      createAuth({ store, config: configSchema.parse({}), env: { BASTION_ADMIN_KEY: "admin" } }),
    ).toThrow(/too short/);
  });
});

describe("auth off", () => {
  it("is refused unless the server listens on loopback", async () => {
    const { store } = await setup(testDatabases()[0]!.open);
    const off = (host: string) =>
      createAuth({
        store,
        config: configSchema.parse({ server: { host }, auth: { enabled: false } }),
        env: {},
      });
    expect(() => off("0.0.0.0")).toThrow(/only when listening on loopback/);
    expect(() => off("192.168.1.4")).toThrow(/only when listening on loopback/);
    expect(off("127.0.0.1").enabled).toBe(false);
    expect(off("::1").enabled).toBe(false);
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("127.1.2.3")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });

  it("lets every request in as the anonymous admin when explicitly off on loopback", async () => {
    const { store } = await setup(testDatabases()[0]!.open);
    const fixture = await startAuthFixture({ store, config: { auth: { enabled: false } } });
    cleanups.push(() => fixture.close());
    expect((await fixture.request("/v1/chat/completions", { body: chatBody() })).status).toBe(200);
    expect((await fixture.request("/admin/v1/keys")).status).toBe(200);
    const me = await (await fixture.request("/auth/me")).json();
    expect(me.user).toMatchObject({ tenantId: "default", roles: ["admin"] });
  });

  it("is announced loudly at start; a created key goes to stderr only", async () => {
    const { store, dataDir } = await setup(testDatabases()[0]!.open);
    const capture = () => {
      let text = "";
      const stream = new Writable({
        write(chunk, _encoding, done) {
          text += chunk.toString();
          done();
        },
      });
      return { stream, text: () => text };
    };
    const offLog = capture();
    const off = createAuth({
      store,
      config: configSchema.parse({ auth: { enabled: false } }),
      env: {},
    });
    await announceAuth({ auth: off, dataDir, logger: pino(offLog.stream), env: {} });
    expect(offLog.text()).toContain("AUTH IS OFF");
    expect(await store.db.selectFrom("api_keys").selectAll().execute()).toHaveLength(0);

    const log = capture();
    const stderr = capture();
    const on = createAuth({ store, config: configSchema.parse({}), env: {} });
    await announceAuth({ auth: on, dataDir, logger: pino(log.stream), env: {}, stderr: stderr.stream });
    const secret = (await readFile(join(dataDir, "admin-key"), "utf8")).trim();
    expect(stderr.text()).toContain(secret);
    expect(log.text()).toContain("created the first admin key");
    expect(log.text()).not.toContain(secret);
  });
});

describe("sign-in throttling", () => {
  it("counts failed sign-ins per client address, whatever the emails", async () => {
    const { store } = await setup(testDatabases()[0]!.open);
    const fixture = await startAuthFixture({ store, config: { auth: { loginFailuresPerIp: 3 } } });
    cleanups.push(() => fixture.close());
    const statuses: number[] = [];
    for (let index = 0; index < 4; index++) {
      const response = await fixture.request("/auth/login", {
        body: { email: `someone${index}@example.com`, password: "not a real password" },
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});
