import type { Hono } from "hono";
import type { Auth } from "../../auth/index.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";
import { actorOf, tenantFilter } from "./index.ts";

/** `/admin/v1/users`: list (`?tenant_id=`), create, read, update, delete (`?erase=true` for GDPR Art. 17). */
export function registerUserRoutes(app: Hono<ServerEnv>, auth: Auth): void {
  const base = "/admin/v1/users";
  app.get(base, async (c) =>
    c.json({ object: "list", data: await auth.admin.listUsers(actorOf(c, auth), tenantFilter(c)) }),
  );
  app.post(base, async (c) =>
    c.json(await auth.admin.createUser(actorOf(c, auth), await readJsonBody(c)), 201),
  );
  app.get(`${base}/:id`, async (c) => c.json(await auth.admin.getUser(actorOf(c, auth), c.req.param("id"))));
  app.patch(`${base}/:id`, async (c) =>
    c.json(await auth.admin.updateUser(actorOf(c, auth), c.req.param("id"), await readJsonBody(c))),
  );
  app.delete(`${base}/:id`, async (c) => {
    const erase = c.req.query("erase") === "true";
    await auth.admin.deleteUser(actorOf(c, auth), c.req.param("id"), { erase });
    return c.json({ id: c.req.param("id"), object: "user", deleted: true, erased: erase });
  });
}
