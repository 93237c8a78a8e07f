import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { openConfiguredStore } from "../auth/control-plane.ts";
import { type Auth, createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { configSchema } from "../config/config.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../metering/services.ts";
import { createApp } from "../server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import type { Store } from "../store/database.ts";
import { openFreshPostgres } from "../store/test-databases.ts";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");

/** A database the CLI and a test share: SQLite in the data directory, PostgreSQL with `TEST_DATABASE_URL`. */
export interface CliDatabase {
  name: string;
  /** The store the CLI and the test server share, and the DATABASE_URL that names it ("" = SQLite in the data directory). */
  open(dataDir: string): Promise<{ store: Store; databaseUrl: string }>;
}

/** SQLite always; PostgreSQL (a fresh schema) when `TEST_DATABASE_URL` is set. */
export function cliDatabases(): CliDatabase[] {
  const databases: CliDatabase[] = [
    {
      name: "sqlite",
      open: async (dataDir) => ({
        store: await openConfiguredStore(configSchema.parse({}), { dataDir, env: {} }),
        databaseUrl: "",
      }),
    },
  ];
  const postgresUrl = process.env.TEST_DATABASE_URL;
  if (postgresUrl !== undefined && postgresUrl !== "") {
    databases.push({
      name: "postgres",
      open: async () => {
        const store = await openFreshPostgres(postgresUrl);
        return { store, databaseUrl: store.databaseUrl };
      },
    });
  }
  return databases;
}

/**
 * A data directory and store for CLI tests, and `bastion(args)`, which runs the real CLI as a child
 * process against them (no key in the environment) and returns its exit code and output.
 */
export interface CliFixture {
  dataDir: string;
  store: Store;
  databaseUrl: string;
  bastion(
    args: string[],
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function openCliFixture(database: CliDatabase, prefix: string): Promise<CliFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const { store, databaseUrl } = await database.open(dataDir);
  return {
    dataDir,
    store,
    databaseUrl,
    async bastion(args, env = {}) {
      try {
        const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
          env: {
            ...process.env,
            BASTION_DATA_DIR: dataDir,
            BASTION_API_KEY: "",
            DATABASE_URL: databaseUrl,
            ...env,
          },
          maxBuffer: 64 * 1024 * 1024,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    },
    async close() {
      await store.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A server over the fixture's store with auth, metering and audit on, for the CLI's `--url` commands. */
export interface MeteredServer {
  server: RunningServer;
  auth: Auth;
  metering: MeteringServices;
  /** A super admin's key. */
  adminKey: string;
  /** Sends `count` chats with the admin key (each adds a request record to the audit chain). */
  chat(count?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startMeteredServer(store: Store, dataDir: string): Promise<MeteredServer> {
  const config = configSchema.parse({});
  await ensureDefaultTenant(store);
  const auth = createAuth({ store, config, env: {} });
  const registry = createStaticRegistry([createScriptedBackend({ id: "chat-model" })]);
  const metering = createMeteringServices({ config, store, dataDir, models: registry });
  metering.attachAdmin(auth.admin);
  auth.useCostModel(metering.meter);
  const adminKey = (await auth.admin.createKey(anonymousPrincipal, { name: "root", roles: ["admin"] }))
    .secret;
  const server = await startServer(createApp({ registry, auth, metering, web: false }));
  return {
    server,
    auth,
    metering,
    adminKey,
    async chat(count = 1) {
      for (let index = 0; index < count; index++) {
        const response = await fetch(`${server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "chat-model", messages: [{ role: "user", content: "hi" }] }),
        });
        const text = await response.text();
        if (response.status !== 200) throw new Error(`chat answered ${response.status}: ${text}`);
      }
    },
    async close() {
      await server.close();
      await metering.close();
    },
  };
}
