import type { Hono } from "hono";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";

/**
 * `GET /app/api/models`: for the chat's model picker, where each model runs and what it costs,
 * for every signed-in user (the admin-only `/admin/v1/backends` has the operational detail). Read
 * from the registry's backends: a route answers with the place and price of its backend.
 */
export function registerModelInfoRoute(app: Hono<ServerEnv>, deps: ServerDependencies): void {
  app.get("/app/api/models", async (c) => {
    const descriptors = await deps.registry.list();
    const data = descriptors.flatMap((descriptor) => {
      const backend = deps.registry.get(descriptor.id);
      if (backend === undefined) return [];
      const { jurisdiction, pricing } = backend;
      return [
        {
          id: descriptor.id,
          jurisdiction,
          local: jurisdiction.zone === "local",
          pricing: {
            input_per_million_eur: pricing.inputPerMillion,
            output_per_million_eur: pricing.outputPerMillion,
          },
          ...(descriptor.provenance?.licence === undefined ? {} : { licence: descriptor.provenance.licence }),
        },
      ];
    });
    return c.json({ object: "list", data });
  });
}
