import type { Hono } from "hono";
import { BastionError } from "../../core/errors.ts";
import type { BackendStatus, Gateway } from "../../gateway/gateway.ts";
import type { ServerEnv } from "../server-env.ts";

/** One backend on the wire, snake_case as the rest of the admin API. */
export function toWireBackend(status: BackendStatus) {
  return {
    id: status.id,
    kind: status.kind,
    title: status.title,
    ...(status.baseUrl === undefined ? {} : { base_url: status.baseUrl }),
    ...(status.apiKeyEnv === undefined ? {} : { api_key_env: status.apiKeyEnv }),
    jurisdiction: status.jurisdiction,
    pricing: {
      input_per_million_eur: status.pricing.inputPerMillion,
      output_per_million_eur: status.pricing.outputPerMillion,
    },
    models: status.models,
    health: {
      state: status.health.state,
      healthy: status.health.healthy,
      in_flight: status.health.inFlight,
      ...(status.health.lastError === undefined ? {} : { last_error: status.health.lastError }),
      ...(status.health.lastCheckedAt === undefined ? {} : { last_checked_at: status.health.lastCheckedAt }),
      ...(status.health.problem === undefined ? {} : { problem: status.health.problem }),
    },
  };
}

/**
 * `GET /admin/v1/backends`: every backend with jurisdiction, price and health (admin or auditor).
 * The auth middleware guards `/admin/*`; with auth off there is no principal and the caller is local.
 */
export function registerBackendsRoute(app: Hono<ServerEnv>, backends: Pick<Gateway, "backends">): void {
  app.get("/admin/v1/backends", async (c) => {
    const principal = c.get("principal");
    if (principal !== undefined && !principal.roles.some((role) => role === "admin" || role === "auditor")) {
      throw new BastionError(
        "forbidden",
        `This needs the admin or auditor role; your credential has ${principal.roles.join(", ") || "none"}.`,
      );
    }
    const data = (await backends.backends()).map(toWireBackend);
    return c.json({ object: "list", data });
  });
}
