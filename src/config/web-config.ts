import { z } from "zod";

/**
 * Top-level config keys for the web app. Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const webConfigShape = {
  web: z
    .object({
      /** Serve the chat and console at `/`; false leaves only the APIs. */
      enabled: z.boolean().default(true),
      /** Name shown in the page title and header. */
      title: z.string().min(1).max(60).default("Bastion"),
    })
    .strict()
    .prefault({}),
};
