import { z } from "zod";

/** Requests, tokens, concurrency and monthly EUR budgets; absent = unlimited. */
export const limitSettingsSchema = z
  .object({
    rpm: z.number().int().min(1).optional(),
    tpm: z.number().int().min(1).optional(),
    concurrency: z.number().int().min(1).optional(),
    budget_soft_eur: z.number().min(0).optional(),
    budget_hard_eur: z.number().min(0).optional(),
  })
  .strict();

export type LimitSettings = z.infer<typeof limitSettingsSchema>;

/**
 * Top-level config keys for auth, limits and database (the control plane). Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const authConfigShape = {
  auth: z
    .object({
      /** `false` is accepted only when the server listens on loopback. */
      enabled: z.boolean().default(true),
      /** `Secure` on the session cookie: "auto" = when the request came over TLS (or `x-forwarded-proto: https`). */
      secureCookies: z.enum(["auto", "always", "never"]).default("auto"),
      sessionHours: z
        .number()
        .positive()
        .max(24 * 90)
        .default(12),
      /** Failed sign-ins allowed per email and per client IP within `loginWindowSeconds`. */
      loginFailuresPerEmail: z.number().int().min(1).default(5),
      loginFailuresPerIp: z.number().int().min(1).default(20),
      loginWindowSeconds: z.number().int().min(1).default(900),
      /** Trust `x-forwarded-for` / `x-forwarded-proto` (set when behind a reverse proxy). */
      trustProxy: z.boolean().default(false),
    })
    .strict()
    .prefault({}),
  limits: z
    .object({
      /** Applied to keys that set none of their own. */
      key: limitSettingsSchema.prefault({}),
      /** Applied to tenants that set none of their own. */
      tenant: limitSettingsSchema.prefault({}),
      /** Output tokens assumed when a request sets no max_tokens, for the budget reservation. */
      assumedOutputTokens: z.number().int().min(1).default(1024),
      /** A concurrency slot left by a crashed instance frees itself after this long. */
      concurrencyLeaseSeconds: z.number().int().min(10).default(900),
    })
    .strict()
    .prefault({}),
  database: z
    .object({
      /** PostgreSQL URL; `DATABASE_URL` wins. Absent = SQLite in the data directory. */
      url: z.string().optional(),
      /** SQLite file (default `<dataDir>/bastion.db`; ":memory:" for throwaway servers). */
      sqlitePath: z.string().optional(),
    })
    .strict()
    .prefault({}),
  redis: z
    .object({
      /** Redis URL for shared rate limits; `REDIS_URL` wins. Absent = in-process limits. */
      url: z.string().optional(),
    })
    .strict()
    .prefault({}),
};
