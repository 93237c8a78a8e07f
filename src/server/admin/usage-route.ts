import type { Hono } from "hono";
import { BastionError } from "../../core/errors.ts";
import { type UsageGroup, type UsageStore, usageGroups } from "../../metering/usage-store.ts";
import type { ServerEnv } from "../server-env.ts";
import { dateParam, meteringReader } from "./metering-access.ts";

/** Parses `group_by=day,tenant,...`; an unknown group is a 400 naming the allowed ones. */
export function parseGroupBy(text: string | undefined): UsageGroup[] {
  if (text === undefined || text.trim() === "") return [];
  return text.split(",").map((part) => {
    const group = part.trim();
    if (!(usageGroups as readonly string[]).includes(group))
      throw new BastionError(
        "invalid_request",
        `Unknown group '${group.slice(0, 40)}' in group_by; use any of ${usageGroups.join(", ")}.`,
        { param: "group_by" },
      );
    return group as UsageGroup;
  });
}

/** `GET /admin/v1/usage?from=&to=&group_by=` (admin or auditor; see docs/PLATFORM-API.md). */
export function registerUsageRoutes(
  app: Hono<ServerEnv>,
  options: { usage: UsageStore; authEnabled: boolean },
): void {
  app.get("/admin/v1/usage", async (c) => {
    const { tenantId } = meteringReader(c, options.authEnabled);
    const from = dateParam(c, "from");
    const to = dateParam(c, "to");
    const data = await options.usage.report({
      groupBy: parseGroupBy(c.req.query("group_by")),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(tenantId === undefined ? {} : { tenantId }),
    });
    return c.json({ object: "list", data });
  });
}
