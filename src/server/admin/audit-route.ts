import type { Hono } from "hono";
import type { AuditLog } from "../../audit/audit-log.ts";
import type { VerifyResult } from "../../audit/verify.ts";
import { BastionError } from "../../core/errors.ts";
import { usageBounds } from "../../metering/usage-store.ts";
import type { Store } from "../../store/database.ts";
import type { ServerEnv } from "../server-env.ts";
import { registerAuditExportRoute } from "./audit-export.ts";
import { dateParam, meteringReader } from "./metering-access.ts";

export interface AuditRouteOptions {
  audit: AuditLog;
  verify(): Promise<VerifyResult>;
  authEnabled: boolean;
  /** The store the log lives in: mounts `GET /admin/v1/audit/export` (streamed JSON lines). */
  store?: Store;
}

function positiveInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d{1,15}$/.test(value))
    throw new BastionError("invalid_request", `Query parameter '${name}' must be a whole number.`, {
      param: name,
    });
  return Number(value);
}

/**
 * `GET /admin/v1/audit`, `POST /admin/v1/audit/verify`, `GET /admin/v1/audit/public-key` and, given
 * the store, `GET /admin/v1/audit/export` (admin or auditor). Records name users by pseudonym;
 * `?user=` takes a user id and matches its pseudonym.
 */
export function registerAuditRoutes(app: Hono<ServerEnv>, options: AuditRouteOptions): void {
  app.get("/admin/v1/audit", async (c) => {
    const { tenantId } = meteringReader(c, options.authEnabled);
    const bounds = usageBounds({
      ...(dateParam(c, "from") === undefined ? {} : { from: dateParam(c, "from")! }),
      ...(dateParam(c, "to") === undefined ? {} : { to: dateParam(c, "to")! }),
    });
    const user = c.req.query("user");
    const model = c.req.query("model");
    const limit = positiveInteger(c.req.query("limit"), "limit");
    const after = positiveInteger(c.req.query("after"), "after");
    const data = await options.audit.list({
      ...bounds,
      ...(tenantId === undefined ? {} : { tenantId }),
      ...(user === undefined || user === "" ? {} : { user }),
      ...(model === undefined || model === "" ? {} : { model }),
      ...(limit === undefined ? {} : { limit }),
      ...(after === undefined ? {} : { after }),
    });
    return c.json({
      object: "list",
      data,
      has_more: data.length === Math.min(Math.max(limit ?? 100, 1), 1000),
    });
  });
  if (options.store !== undefined)
    registerAuditExportRoute(app, { store: options.store, authEnabled: options.authEnabled });
  app.post("/admin/v1/audit/verify", async (c) => {
    meteringReader(c, options.authEnabled);
    return c.json(await options.verify());
  });
  app.get("/admin/v1/audit/public-key", (c) => {
    meteringReader(c, options.authEnabled);
    return c.body(options.audit.publicKeyPem, 200, { "content-type": "application/x-pem-file" });
  });
}
