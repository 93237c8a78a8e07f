import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { type Auth, ensureDefaultTenant } from "../../src/auth/index.ts";
import { type BastionConfig, configSchema } from "../../src/config/config.ts";
import { anonymousPrincipal } from "../../src/core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../../src/metering/index.ts";
import { createPlatform, type Platform } from "../../src/platform.ts";
import { createPolicyEngine } from "../../src/policy/index.ts";
import { createApp } from "../../src/server/app.ts";
import { openStore, type Store } from "../../src/store/database.ts";
import { syntheticModelPath, type TestModel } from "../support/test-server.ts";

export interface BrowserServer {
  baseUrl: string;
  platform: Platform;
  store: Store;
  auth: Auth;
  metering: MeteringServices;
  /** An admin key of the default tenant, as the bootstrap admin would paste it into "API key". */
  adminKey: string;
  users: {
    member: { email: string; password: string };
    auditor: { email: string; password: string };
  };
  close(): Promise<void>;
}

/**
 * A real Bastion for the browser tests, assembled as `bastion serve` does: synthetic models,
 * a fresh SQLite store, auth with sessions, metering and audit, the web app at `/`, on
 * 127.0.0.1 and an ephemeral port. One admin key and two password users are created.
 */
export async function startBrowserServer(options: {
  models: TestModel[];
  /** A (fake) Hugging Face endpoint for the console's pulls, into a temporary model store. */
  hubEndpoint?: string;
}): Promise<BrowserServer> {
  const entries: BastionConfig["models"]["entries"] = [];
  for (const model of options.models) {
    entries.push({
      id: model.id,
      path: await syntheticModelPath(model.preset),
      aliases: model.aliases ?? [],
      ...(model.parallel === undefined ? {} : { parallel: model.parallel }),
    });
  }
  const config = configSchema.parse({
    server: { port: 0 },
    engine: { threads: 1, gpu: false },
    models: { entries, contextSize: 2048, idleUnloadSeconds: 0 },
  });
  const dataDir = mkdtempSync(join(tmpdir(), "bastion-browser-"));
  const store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
  await ensureDefaultTenant(store);
  // As `bastion serve` assembles it: the platform's gateway, auth and backends, metered and audited.
  const platform = await createPlatform(config, { store });
  // Loaded up front, as `bastion serve` loads its first model: times to first token then measure
  // answers, not model loading.
  for (const model of options.models) (await platform.pool.acquire(model.id)).release();
  const auth = platform.auth;
  const metering = createMeteringServices({ config, store, dataDir, models: platform.registry });
  auth.useCostModel(metering.meter);
  metering.attachAdmin(auth.admin);
  const app = createApp({
    registry: platform.registry,
    chat: metering.observe(platform.chat),
    backends: platform.backends,
    auth,
    metering,
    web: { store, admin: auth.admin },
    models: {
      pool: platform.pool,
      modelsDir: join(dataDir, "models"),
      serve: platform.serveModel,
      ...(options.hubEndpoint === undefined ? {} : { hubEndpoint: options.hubEndpoint }),
    },
    policies: { engine: createPolicyEngine(config.policies), defaultPolicy: config.policies.default },
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const admin = await auth.admin.createKey(anonymousPrincipal, { name: "bootstrap admin", roles: ["admin"] });
  const users = {
    member: { email: "marie@example.eu", password: "correct horse battery" },
    auditor: { email: "dpo@example.eu", password: "audit all the things" },
  };
  await auth.admin.createUser(anonymousPrincipal, { ...users.member, name: "Marie", roles: ["member"] });
  await auth.admin.createUser(anonymousPrincipal, { ...users.auditor, name: "DPO", roles: ["auditor"] });

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    platform,
    store,
    auth,
    metering,
    adminKey: admin.secret,
    users,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
      await metering.close();
      await platform.dispose();
      await store.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
