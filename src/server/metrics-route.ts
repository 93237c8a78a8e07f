import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { BastionError } from "../core/errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { ServerEnv } from "./server-env.ts";

/**
 * `GET /metrics` on the main app: admin role required (the auth middleware has resolved the key;
 * with auth off, loopback only, it is open).
 */
export function registerMetricsRoute(
  app: Hono<ServerEnv>,
  options: { metrics: Metrics; authEnabled: boolean },
): void {
  app.get("/metrics", async (c) => {
    const principal = c.get("principal");
    if (options.authEnabled) {
      if (principal === undefined)
        throw new BastionError("unauthorized", "Missing API key: send Authorization: Bearer <admin key>.");
      if (!principal.roles.includes("admin"))
        throw new BastionError("forbidden", "Metrics need the admin role.");
    }
    const { contentType, body } = await options.metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  });
}

/**
 * `/metrics` alone on its own port, without auth (`metrics.port`): for a Prometheus that scrapes a
 * private interface. Returns a function that closes it.
 */
export async function serveMetricsApart(
  metrics: Metrics,
  port: number,
  host: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: host }, (info) =>
      resolve({
        port: info.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    );
  });
}
