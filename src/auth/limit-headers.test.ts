import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { Principal } from "../core/principal.ts";
import type { AuthContext, Authenticator } from "./authenticator.ts";
import type { PendingLimits } from "./limited-chat-service.ts";
import { type AuthVariables, createAuthMiddleware, takeLimitHeaders } from "./middleware.ts";
import { createRateLimits } from "./rate-limits.ts";

const context: AuthContext = {
  principal: { tenantId: "t1", keyId: "k1", roles: ["member"] },
  scopes: {},
  keyLimits: { rpm: 100 },
  tenantLimits: {},
  via: "key",
};

/** A response that counts reads of its headers (node-server turns its plain object into a web Headers on the first). */
class CountingResponse extends Response {
  reads = 0;
  override get headers(): Headers {
    this.reads++;
    return super.headers;
  }
}
let last: CountingResponse | undefined;

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
  // A handler that builds its headers as one object, limits included, and one that does not.
  hono.post("/v1/chat/completions", (c) => {
    last = new CountingResponse("{}", {
      headers: { "content-type": "application/json", ...takeLimitHeaders(c.req.raw) },
    });
    return last;
  });
  hono.post("/v1/embeddings", (c) => c.json({}));
  return hono;
}

describe("rate-limit headers", () => {
  it("are on the answer once, whether the handler took them or the middleware set them", async () => {
    const hono = app();
    for (const path of ["/v1/chat/completions", "/v1/embeddings"]) {
      const response = await hono.request(path, { method: "POST", headers: { authorization: "Bearer k" } });
      expect(response.status).toBe(200);
      // The handler took them: the middleware did not touch the response's headers.
      if (path === "/v1/chat/completions") expect(last?.reads).toBe(0);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBe("100");
      expect(response.headers.get("x-ratelimit-remaining-requests")).toMatch(/^\d+$/);
    }
  });

  it("are there for no request the limits did not see", () => {
    expect(takeLimitHeaders(new Request("http://x/"))).toBeUndefined();
  });
});
