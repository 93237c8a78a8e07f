import { createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { type BastionConfig, configSchema } from "../config/config.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { createPlatform, type Platform } from "../platform.ts";
import { createPolicyEngine } from "../policy/index.ts";
import { createApp } from "../server/app.ts";
import { startServer } from "../server/testing/start-server.ts";
import { openStore, type Store } from "../store/database.ts";
import { createDocuments, type Documents, type IngestionEvent } from "./index.ts";

/** A real Bastion server with auth, documents and synthetic llama.cpp models, for end-to-end tests. */
export interface DocumentsTestServer {
  baseUrl: string;
  platform: Platform;
  store: Store;
  documents: Documents;
  /** Every ingestion event so far, in order. */
  events: IngestionEvent[];
  /**
   * API keys of two tenants: `a` is the default tenant's admin, `b` another tenant's member,
   * `bAdmin` that tenant's admin (its policy is `eu-strict`, the tenant's).
   */
  keys: { a: string; b: string; bAdmin: string };
  close(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1 and an ephemeral port: `tiny` (random weights, embeds) and
 * `scripted` (fixed reasoning then "Bon jour !") models, SQLite in memory unless a store is given.
 */
export async function startDocumentsTestServer(
  options: { store?: Store; config?: Record<string, unknown> } = {},
): Promise<DocumentsTestServer> {
  const config: BastionConfig = configSchema.parse({
    server: { port: 0 },
    engine: { threads: 1, gpu: false },
    models: {
      entries: [
        { id: "tiny", path: await syntheticTestModel("tiny"), aliases: [], parallel: 2 },
        { id: "scripted", path: await syntheticTestModel("scripted"), aliases: [], parallel: 2 },
      ],
      contextSize: 2048,
      idleUnloadSeconds: 0,
    },
    ...options.config,
  });
  const store = options.store ?? (await openStore({ sqlitePath: ":memory:" }));
  const platform = await createPlatform(config, { store });
  const policy = createPolicyEngine(config.policies);
  const events: IngestionEvent[] = [];
  const documents = await createDocuments({
    store,
    registry: platform.registry,
    config,
    policy,
    onEvent: (event) => events.push(event),
  });
  const auth = createAuth({ store, config, env: {} });
  await ensureDefaultTenant(store);
  const app = createApp({
    registry: platform.registry,
    auth,
    web: false,
    maxBodyBytes: config.server.maxBodyBytes,
    documents,
  });
  await auth.admin.createTenant(anonymousPrincipal, {
    id: "tenant-b",
    name: "Tenant B",
    policy: "eu-strict",
  });
  const a = await auth.admin.createKey(anonymousPrincipal, { name: "a", roles: ["admin"] });
  const b = await auth.admin.createKey(anonymousPrincipal, {
    name: "b",
    tenant_id: "tenant-b",
    roles: ["member"],
  });
  const bAdmin = await auth.admin.createKey(anonymousPrincipal, {
    name: "b-admin",
    tenant_id: "tenant-b",
    roles: ["admin"],
  });
  const server = await startServer(app);
  return {
    baseUrl: server.url,
    platform,
    store,
    documents,
    events,
    keys: { a: a.secret, b: b.secret, bAdmin: bAdmin.secret },
    async close() {
      await server.close();
      await documents.dispose();
      await platform.dispose();
      await store.destroy();
    },
  };
}
