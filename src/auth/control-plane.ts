import { join } from "node:path";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { BastionConfig } from "../config/config.ts";
import { builtInPolicies } from "../config/policies-config.ts";
import { openStore, type Store } from "../store/database.ts";
import { type Auth, createAuth } from "./index.ts";

export interface ControlPlane {
  store: Store;
  auth: Auth;
  /** Present when `REDIS_URL` (or `redis.url`) is set: rate limits shared by every instance. */
  redis?: Redis;
  dispose(): Promise<void>;
}

/** The policies a tenant or key may name: the built-in ones and those in the config. */
export function policyNames(config: Readonly<Pick<BastionConfig, "policies">>): string[] {
  return [...new Set([...Object.keys(builtInPolicies), ...Object.keys(config.policies.definitions)])];
}

/** `DATABASE_URL`, else `database.url`; undefined = SQLite. */
export function databaseUrl(
  config: Readonly<Pick<BastionConfig, "database">>,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const url =
    env.DATABASE_URL !== undefined && env.DATABASE_URL !== "" ? env.DATABASE_URL : config.database.url;
  return url === "" ? undefined : url;
}

/** The store a server with this config uses: PostgreSQL at `DATABASE_URL`, else SQLite in the data directory. */
export function openConfiguredStore(
  config: Readonly<Pick<BastionConfig, "database">>,
  options: { env?: NodeJS.ProcessEnv; dataDir: string },
): Promise<Store> {
  const url = databaseUrl(config, options.env ?? process.env);
  if (url !== undefined) return openStore({ databaseUrl: url });
  return openStore({ sqlitePath: config.database.sqlitePath ?? join(options.dataDir, "bastion.db") });
}

/**
 * Opens the store (unless given one) and Redis (when configured) and builds auth over them: what
 * `createPlatform` needs for `platform.store` and `platform.auth`.
 */
export async function openControlPlane(options: {
  config: Readonly<BastionConfig>;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  store?: Store;
  logger?: Logger;
}): Promise<ControlPlane> {
  const env = options.env ?? process.env;
  const store =
    options.store ?? (await openConfiguredStore(options.config, { env, dataDir: options.dataDir }));
  const redisUrl =
    env.REDIS_URL !== undefined && env.REDIS_URL !== "" ? env.REDIS_URL : options.config.redis.url;
  let redis: Redis | undefined;
  try {
    if (redisUrl !== undefined && redisUrl !== "") {
      // Fail a request quickly rather than queueing it behind a Redis that is down.
      redis = new Redis(redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
      redis.on("error", (error: Error) => options.logger?.warn({ err: error.message }, "redis error"));
    }
    const auth = createAuth({
      store,
      config: options.config,
      env,
      // The admin API refuses a key, tenant or scope naming an unknown policy, as the CLI does:
      // otherwise every request under it would fail with a 403 later.
      policyNames: policyNames(options.config),
      ...(redis === undefined ? {} : { redis }),
    });
    return {
      store,
      auth,
      ...(redis === undefined ? {} : { redis }),
      async dispose() {
        await redis?.quit().catch(() => {});
        if (options.store === undefined) await store.destroy();
      },
    };
  } catch (error) {
    redis?.disconnect();
    if (options.store === undefined) await store.destroy();
    throw error;
  }
}
