import type { MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import type { BastionConfig } from "../config/config.ts";
import type { ModelRegistry } from "../core/backend.ts";
import type { ChatService } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import type { Principal } from "../core/principal.ts";
import type { Store } from "../store/database.ts";
import { type AdminService, createAdminService } from "./admin-service.ts";
import { type Authenticator, createAuthenticator } from "./authenticator.ts";
import { type Budgets, createBudgets } from "./budgets.ts";
import { type CostModel, createPriceTableCostModel } from "./cost-model.ts";
import { createWindowCounter, type WindowCounter } from "./counters.ts";
import {
  createLimitedChatService,
  createLimitsSettler,
  type LimitsSettler,
  type PendingLimits,
} from "./limited-chat-service.ts";
import { type AuthVariables, createAuthMiddleware } from "./middleware.ts";
import { createRateLimits, type RateLimits } from "./rate-limits.ts";

export { bootstrapAdminKey, ensureDefaultTenant } from "./bootstrap.ts";
export {
  authContextOf,
  clientAddress,
  readCredential,
  sessionCookie,
} from "./middleware.ts";

/** Response headers of the limits, for CORS `Access-Control-Expose-Headers`. */
export const limitHeaderNames = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  "x-bastion-budget-warning",
];

/** The control plane's HTTP-facing parts, handed to `createApp({auth})`. */
export interface Auth {
  /** False only when explicitly turned off on a loopback address. */
  enabled: boolean;
  settings: Pick<BastionConfig, "auth" | "limits">;
  store: Store;
  authenticator: Authenticator;
  admin: AdminService;
  rateLimits: RateLimits;
  budgets: Budgets;
  /** Settles budgets and tokens/min when a request completes (a `RequestObserver` for the gateway). */
  settler: LimitsSettler;
  /** Failed sign-ins per email and per IP. */
  loginFailures: { byEmail: WindowCounter; byAddress: WindowCounter };
  /** For `/v1`, `/api`, `/admin` and `/app/api`: credential, scopes, CSRF, rate limits. */
  middleware: MiddlewareHandler<AuthVariables>;
  /** Adds model scopes and budget reservations to a chat service. */
  wrapChatService(chat: ChatService, registry?: ModelRegistry): ChatService;
  /** Prices budgets with metering's meter (`createMeter`) instead of the backends' price tables. */
  useCostModel(model: CostModel): void;
}

export interface CreateAuthOptions {
  store: Store;
  config: Readonly<Pick<BastionConfig, "auth" | "limits" | "server">>;
  env?: NodeJS.ProcessEnv;
  /** Shared counters for several instances; in-process when absent. */
  redis?: Redis;
  /** metering's meter, when the platform has one; else the backends' price tables. */
  costModel?: CostModel;
  /** Policies that exist (built-in and configured); a tenant or key naming another is refused. */
  policyNames?: readonly string[];
}

/** Whether an address is loopback-only (the one case where auth may be turned off). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/**
 * Builds authentication, sessions, limits, budgets and the admin service over the store. Refuses
 * `auth.enabled: false` unless the server listens on loopback only.
 */
export function createAuth(options: CreateAuthOptions): Auth {
  const { store, config } = options;
  const env = options.env ?? process.env;
  const enabled = config.auth.enabled;
  if (!enabled && !isLoopbackHost(config.server.host)) {
    throw new BastionError(
      "invalid_request",
      `Auth can be turned off only when listening on loopback (127.0.0.1, ::1, localhost), not ${config.server.host}. Remove auth.enabled: false / --no-auth, or listen on 127.0.0.1.`,
    );
  }
  const adminKey = env.BASTION_ADMIN_KEY;
  if (adminKey !== undefined && adminKey !== "" && adminKey.length < 24) {
    throw new BastionError(
      "invalid_request",
      "BASTION_ADMIN_KEY is too short to be a safe admin key: use at least 24 random characters (e.g. `openssl rand -base64 32`).",
    );
  }
  const redis = options.redis === undefined ? {} : { redis: options.redis };
  const authenticator = createAuthenticator({
    store,
    ...(env.BASTION_ADMIN_KEY === undefined ? {} : { bootstrapAdminKey: env.BASTION_ADMIN_KEY }),
  });
  const rateLimits = createRateLimits({
    ...redis,
    concurrencyLeaseSeconds: config.limits.concurrencyLeaseSeconds,
  });
  const budgets = createBudgets(store);
  let costModel = options.costModel;
  const pending = new WeakMap<Principal, PendingLimits>();
  const settler = createLimitsSettler({
    rateLimits,
    costModel: {
      estimateCostEur: (input) => cost().estimateCostEur(input),
      price: (record) => cost().price(record),
    },
  });
  let registryForPrices: ModelRegistry | undefined;
  const cost = (): CostModel => {
    costModel ??= createPriceTableCostModel(registryForPrices);
    return costModel;
  };
  const loginWindow = config.auth.loginWindowSeconds;
  return {
    enabled,
    settings: { auth: config.auth, limits: config.limits },
    store,
    authenticator,
    admin: invalidatingKeys(
      createAdminService(
        store,
        options.policyNames === undefined ? {} : { policyNames: options.policyNames },
      ),
      authenticator,
    ),
    rateLimits,
    budgets,
    settler,
    loginFailures: {
      byEmail: createWindowCounter({ name: "login-email", windowSeconds: loginWindow, ...redis }),
      byAddress: createWindowCounter({ name: "login-ip", windowSeconds: loginWindow, ...redis }),
    },
    middleware: createAuthMiddleware({
      enabled,
      authenticator,
      rateLimits,
      pending,
      limits: config.limits,
      resolveModel: (name) => registryForPrices?.get(name)?.id,
    }),
    wrapChatService(chat, registry) {
      registryForPrices ??= registry;
      return createLimitedChatService(chat, {
        ...(registry === undefined ? {} : { registry }),
        budgets,
        costModel: {
          estimateCostEur: (input) => cost().estimateCostEur(input),
          price: (record) => cost().price(record),
        },
        settler,
        pending,
        assumedOutputTokens: config.limits.assumedOutputTokens,
      });
    },
    useCostModel(model) {
      costModel = model;
    },
  };
}

/**
 * The admin service with every change (create, update, delete, revoke) followed by dropping the
 * authenticator's cached rows, so that the change applies to the very next request.
 */
function invalidatingKeys(admin: AdminService, authenticator: Authenticator): AdminService {
  const wrapped = { ...admin };
  for (const name of Object.keys(admin) as Array<keyof AdminService>) {
    if (!/^(create|update|delete|revoke)/.test(name)) continue;
    const method = admin[name] as (...args: unknown[]) => Promise<unknown>;
    (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } finally {
        // Also after a failure: part of a change may have been written before it failed.
        authenticator.invalidate();
      }
    };
  }
  return wrapped;
}
