import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { configSchema } from "../config/config.ts";
import type { ChatStreamPart } from "../core/chat.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createApp } from "../server/app.ts";
import {
  type ChatScript,
  createScriptedBackend,
  createStaticRegistry,
} from "../server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import type { Store } from "../store/database.ts";
import { ensureDefaultTenant } from "./bootstrap.ts";
import { policyNames } from "./control-plane.ts";
import { type Auth, createAuth } from "./index.ts";

/*
 * Test support for the auth module: a real Bastion app with auth over a real store, served on an
 * ephemeral port, with a scripted chat backend whose price table is known.
 */

/** 2 EUR per 1M input tokens, 10 EUR per 1M output tokens. */
export const testPricing = { inputPerMillion: 2, outputPerMillion: 10 };

export interface AuthFixture {
  auth: Auth;
  server: RunningServer;
  /** A super admin key (admin of the default tenant). */
  adminKey: string;
  request(
    path: string,
    init?: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** `usage` tokens the scripted answer reports: 7 in, 5 out. */
export function scriptWithDelay(ms: number): ChatScript {
  return async function* (): AsyncIterable<ChatStreamPart> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    yield { type: "text-delta", text: "Hello" };
    yield {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 7, completionTokens: 5, reasoningTokens: 0, cachedPromptTokens: 0 },
    };
  };
}

export async function startAuthFixture(options: {
  store: Store;
  config?: unknown;
  script?: ChatScript;
  redis?: Redis;
  logger?: Logger;
}): Promise<AuthFixture> {
  const config = configSchema.parse(options.config ?? {});
  const auth = createAuth({
    store: options.store,
    config,
    env: {},
    policyNames: policyNames(config),
    ...(options.redis === undefined ? {} : { redis: options.redis }),
  });
  await ensureDefaultTenant(options.store);
  const backend = {
    ...createScriptedBackend({
      id: "chat-model",
      aliases: ["chat"],
      ...(options.script === undefined ? {} : { script: options.script }),
    }),
    pricing: testPricing,
  };
  const other = createScriptedBackend({ id: "other-model", embeddings: true });
  const registry = createStaticRegistry([backend, other]);
  const app = createApp({
    registry,
    auth,
    web: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const server = await startServer(app);
  const admin = await auth.admin.createKey(anonymousPrincipal, { name: "test admin", roles: ["admin"] });
  const request: AuthFixture["request"] = (path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.key !== undefined) headers.authorization = `Bearer ${init.key}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${server.url}${path}`, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  };
  return {
    auth,
    server,
    adminKey: admin.secret,
    request,
    async close() {
      await server.close();
    },
  };
}

/** A chat request body for the scripted model. */
export const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: "chat",
  messages: [{ role: "user", content: "Hi" }],
  ...extra,
});
