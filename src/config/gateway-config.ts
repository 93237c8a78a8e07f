import { z } from "zod";

/*
 * Top-level config keys for backends and routes (the gateway). Spread into the config schema;
 * every key has a default so that an empty config file stays valid. Presets (`preset: mistral`)
 * and cross-references (a route naming a backend) are resolved when the gateway is built
 * (`src/gateway/backend-configs.ts`), where the error can name the key path too.
 */

const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][\w.-]{0,63}$/, "letters, digits, '.', '_' and '-' only (at most 64)");

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name such as MISTRAL_API_KEY");

export const zones = ["local", "EU", "EEA", "adequacy", "other"] as const;

const jurisdictionSchema = z
  .object({
    country: z
      .string()
      .regex(/^([A-Z]{2}|local)$/, 'an ISO 3166 two-letter country code in capitals, e.g. "FR"'),
    zone: z.enum(zones, { error: `one of ${zones.join(", ")}` }),
    operator: z.string().min(1),
    extraterritorial: z.boolean().default(false),
  })
  .strict();

const pricingSchema = z
  .object({
    inputPerMillion: z.number().min(0),
    outputPerMillion: z.number().min(0),
  })
  .strict();

/** `${NAME}` as `apiKey` holds it; group 1 is the variable name. */
export const secretReferencePattern = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * A secret reference: the loader leaves `apiKey` values uninterpolated so that the key never sits in
 * the frozen config (which `bastion backends --json` and the admin API show); only `${NAME}` is
 * accepted, and the backend reads the variable when it is built. (A refinement, not a transform:
 * `loadConfig` validates the config twice.)
 */
const apiKeyReference = z.string().refine((value) => secretReferencePattern.test(value.trim()), {
  message: `a literal API key is refused: secrets never sit in the config file. Write apiKey: "\${MISTRAL_API_KEY}" (or apiKeyEnv: MISTRAL_API_KEY) and export that variable.`,
});

const backendSchema = z
  .object({
    /** `local`: the engine's models (jurisdiction and price of this server); `openai-compatible`: a remote server. */
    kind: z.enum(["local", "openai-compatible"]).default("openai-compatible"),
    /** A provider preset (`mistral`, `scaleway`, `ovhcloud`, `ionos`, `openai`, `azure`). */
    preset: z.string().optional(),
    /** The OpenAI API root, e.g. `http://10.0.0.5:8000/v1`. */
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine(
        (url) => {
          const parsed = URL.parse(url);
          return parsed === null || (parsed.username === "" && parsed.password === "");
        },
        {
          message: `a baseUrl must not carry credentials (user:password@): they would sit in the config and show in listings. Give the key as apiKey: "\${ENV_NAME}" or apiKeyEnv.`,
        },
      )
      .optional(),
    apiKey: apiKeyReference.optional(),
    apiKeyEnv: envName.optional(),
    /** How the key is sent: `Authorization: Bearer` (default) or Azure's `api-key` header. */
    authHeader: z.enum(["bearer", "api-key"]).optional(),
    /** Model names as routes call them -> names the upstream knows; unmapped names pass unchanged. */
    models: z.record(z.string().min(1), z.string().min(1)).default({}),
    jurisdiction: jurisdictionSchema.optional(),
    pricing: pricingSchema.optional(),
    timeouts: z
      .object({
        connectMs: z.number().int().min(1).default(5_000),
        /** Until the response headers and then until the first streamed part. */
        firstByteMs: z.number().int().min(1).default(60_000),
        /** Longest silence inside a streamed answer. */
        idleMs: z.number().int().min(1).default(60_000),
      })
      .strict()
      .prefault({}),
    /** Upper bound on concurrent requests (and connections) to this backend. */
    maxConcurrent: z.number().int().min(1).max(4096).default(32),
    /** Path probed for health, relative to `baseUrl`. */
    healthPath: z.string().default("/models"),
  })
  .strict();

const candidateSchema = z.union([
  z.string().regex(/^[^/\s]+\/\S+$/, '"backend/model", e.g. "local/qwen" or "mistral/mistral-small-latest"'),
  z
    .object({
      target: z.string().regex(/^[^/\s]+\/\S+$/, '"backend/model"'),
      weight: z.number().min(0).default(1),
    })
    .strict(),
]);

export const routeStrategies = ["priority", "weighted", "cheapest", "least-busy"] as const;

const routeSchema = z
  .object({
    /**
     * `priority`: in order, falling back down the list; `weighted`: a random pick by weight first;
     * `cheapest`: the cheapest allowed first; `least-busy`: fewest requests in flight first.
     * Every strategy falls back to the remaining candidates.
     */
    strategy: z.enum(routeStrategies, { error: `one of ${routeStrategies.join(", ")}` }).default("priority"),
    candidates: z.array(candidateSchema).min(1, "a route needs at least one candidate"),
  })
  .strict();

export const gatewayConfigShape = {
  /** Named backends; `local` (the engine's models) always exists. */
  backends: z.record(identifier, backendSchema).default({}),
  /** Public model names -> ordered candidates. */
  routes: z.record(z.string().min(1), routeSchema).default({}),
  gateway: z
    .object({
      /** Attempts per backend (the first included) on retryable errors, before the first part. */
      maxAttempts: z.number().int().min(1).max(10).default(2),
      initialBackoffMs: z.number().int().min(0).default(100),
      maxBackoffMs: z.number().int().min(0).default(2_000),
      /** Consecutive failures that open a backend's circuit. */
      breakerFailures: z.number().int().min(1).default(5),
      /** How long an open circuit waits before a health probe may close it. */
      breakerOpenMs: z.number().int().min(10).default(10_000),
      /** Health probe of every remote backend this often (0: probe only backends whose circuit opened). */
      healthIntervalSeconds: z.number().min(0).default(30),
    })
    .strict()
    .prefault({}),
};

export type BackendConfig = z.infer<typeof backendSchema>;
export type GatewaySettings = z.infer<(typeof gatewayConfigShape)["gateway"]>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type RouteStrategy = (typeof routeStrategies)[number];
