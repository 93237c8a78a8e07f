import type { Context, Hono } from "hono";
import { z } from "zod";
import { BastionError } from "../../core/errors.ts";
import { checkText, type PolicyDescription } from "../../policy/index.ts";
import type { PolicyEngine } from "../../policy/types.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";

/** The policy engine as the admin routes use it: evaluation plus a description of each policy. */
export type DescribedPolicyEngine = PolicyEngine & { describe(): PolicyDescription[] };

const checkSchema = z.strictObject({
  text: z.string().min(1, "paste a text to check").max(1_000_000),
  policy: z.string().min(1).max(200).optional(),
});

/** Policies are for admins and the DPO (auditor); a dry run stores nothing and shows values masked. */
function assertReader(c: Context<ServerEnv>): void {
  const principal = c.get("principal");
  if (principal !== undefined && !principal.roles.some((role) => role === "admin" || role === "auditor"))
    throw new BastionError(
      "forbidden",
      `This needs the admin or auditor role; your credential has ${principal.roles.join(", ") || "none"}.`,
    );
}

/**
 * `GET /admin/v1/policies` lists the policies (built-in and configured) and the default one;
 * `POST /admin/v1/policies/check` runs a pasted text through the detectors and a policy, as
 * `bastion policy check` does, and answers what was found (masked) and what would happen.
 */
export function registerPolicyRoutes(
  app: Hono<ServerEnv>,
  options: { engine: DescribedPolicyEngine; defaultPolicy: string },
): void {
  app.get("/admin/v1/policies", (c) => {
    assertReader(c);
    return c.json({ object: "list", default: options.defaultPolicy, data: options.engine.describe() });
  });

  app.post("/admin/v1/policies/check", async (c) => {
    assertReader(c);
    const parsed = checkSchema.safeParse(await readJsonBody(c));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join(".") || null;
      throw new BastionError("invalid_request", `${param ?? "body"}: ${issue.message}`, { param });
    }
    const { text, policy } = parsed.data;
    if (policy !== undefined && !options.engine.describe().some((entry) => entry.name === policy))
      throw new BastionError(
        "invalid_request",
        `No policy named "${policy}"; GET /admin/v1/policies lists them.`,
        {
          param: "policy",
        },
      );
    return c.json(checkText(options.engine, text, policy === undefined ? {} : { policy }));
  });
}
