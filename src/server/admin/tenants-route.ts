import type { Hono } from "hono";
import type { Auth } from "../../auth/index.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";
import { actorOf } from "./index.ts";

/** `/admin/v1/tenants`: list, create, read (with this month's budget use), update, delete. */
export function registerTenantRoutes(app: Hono<ServerEnv>, auth: Auth): void {
  const base = "/admin/v1/tenants";
  app.get(base, async (c) =>
    c.json({ object: "list", data: await auth.admin.listTenants(actorOf(c, auth)) }),
  );
  app.post(base, async (c) =>
    c.json(await auth.admin.createTenant(actorOf(c, auth), await readJsonBody(c)), 201),
  );
  app.get(`${base}/:id`, async (c) => {
    const tenant = await auth.admin.getTenant(actorOf(c, auth), c.req.param("id"));
    const budget = await auth.budgets.status(`tenant:${tenant.id}`);
    return c.json({
      ...tenant,
      budget: { month: budget.month, spent_eur: budget.spentEur, reserved_eur: budget.reservedEur },
    });
  });
  app.patch(`${base}/:id`, async (c) =>
    c.json(await auth.admin.updateTenant(actorOf(c, auth), c.req.param("id"), await readJsonBody(c))),
  );
  app.delete(`${base}/:id`, async (c) => {
    await auth.admin.deleteTenant(actorOf(c, auth), c.req.param("id"));
    return c.json({ id: c.req.param("id"), object: "tenant", deleted: true });
  });
}
