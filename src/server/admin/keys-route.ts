import type { Hono } from "hono";
import type { Auth } from "../../auth/index.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";
import { actorOf, tenantFilter } from "./index.ts";

/** `/admin/v1/keys`: list, create (the secret is in this answer only), read (with budget use), update, revoke. */
export function registerKeyRoutes(app: Hono<ServerEnv>, auth: Auth): void {
  const base = "/admin/v1/keys";
  app.get(base, async (c) =>
    c.json({ object: "list", data: await auth.admin.listKeys(actorOf(c, auth), tenantFilter(c)) }),
  );
  app.post(base, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await auth.admin.createKey(actorOf(c, auth), await readJsonBody(c)), 201);
  });
  app.get(`${base}/:id`, async (c) => {
    const key = await auth.admin.getKey(actorOf(c, auth), c.req.param("id"));
    const budget = await auth.budgets.status(`key:${key.id}`);
    return c.json({
      ...key,
      budget: { month: budget.month, spent_eur: budget.spentEur, reserved_eur: budget.reservedEur },
    });
  });
  app.patch(`${base}/:id`, async (c) =>
    c.json(await auth.admin.updateKey(actorOf(c, auth), c.req.param("id"), await readJsonBody(c))),
  );
  app.post(`${base}/:id/revoke`, async (c) =>
    c.json(await auth.admin.revokeKey(actorOf(c, auth), c.req.param("id"))),
  );
}
