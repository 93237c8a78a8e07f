import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { Principal } from "../core/principal.ts";
import type { AuthContext, Authenticator } from "./authenticator.ts";
import type { PendingLimits } from "./limited-chat-service.ts";
import { type AuthVariables, createAuthMiddleware } from "./middleware.ts";
import { createRateLimits } from "./rate-limits.ts";

const context: AuthContext = {
  principal: { tenantId: "t1", keyId: "k1", roles: ["member"] },
  scopes: {},
  keyLimits: { rpm: 100 },
  tenantLimits: {},
  via: "key",
};

function app() {
  const authenticator = { fromKey: async () => ({ ...context, principal: { ...context.principal } }) };
  const hono = new Hono<AuthVariables>();
  hono.use(
    "*",
    createAuthMiddleware({
      enabled: true,
      authenticator: authenticator as unknown as Authenticator,
      rateLimits: createRateLimits(),
      pending: new WeakMap<Principal, PendingLimits>(),
      limits: configSchema.parse({}).limits,
    }),
  );
  hono.post("/v1/chat/completions", (c) => c.json({}));
  hono.post("/v1/embeddings", (c) => c.json({}));
  return hono;
}

describe("rate-limit headers", () => {
  it("are on the answers of the routes the limits count", async () => {
    const hono = app();
    for (const path of ["/v1/chat/completions", "/v1/embeddings"]) {
      const response = await hono.request(path, { method: "POST", headers: { authorization: "Bearer k" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBe("100");
      expect(response.headers.get("x-ratelimit-remaining-requests")).toMatch(/^\d+$/);
    }
  });
});
