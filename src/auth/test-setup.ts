import { connect, createServer, type Socket } from "node:net";
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

/**
 * A TCP proxy to Redis whose commands arrive `delayMs` late (replies are not held): a Redis far
 * away, or busy, for one instance. Returns the URL to connect to (same database number).
 */
export async function startSlowRedis(
  url: string,
  delayMs: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", end).on("close", () => {
        sockets.delete(socket);
        end();
      });
    }
    // Timers of one delay fire in the order they were set: the commands keep their order.
    client.on("data", (chunk) =>
      setTimeout(() => {
        if (!upstream.destroyed) upstream.write(chunk);
      }, delayMs),
    );
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
