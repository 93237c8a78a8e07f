import { z } from "zod";

const eurPerMillion = z
  .object({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) })
  .strict();

/**
 * Top-level config keys for metering, audit and metrics. Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 *
 * Defaults describe a modest self-hosted CPU server (see README "Metering"): roughly EUR 3,000 of
 * hardware amortised over 3 years running around the clock (EUR 0.114/h, rounded to 0.12, which is
 * also what a comparable rented dedicated server costs), drawing 150 W under load, paying the 2024
 * EU non-household electricity price (about EUR 0.19/kWh, Eurostat nrg_pc_205), on the EU-27 grid.
 */
export const meteringConfigShape = {
  metering: z
    .object({
      local: z
        .object({
          /** Hardware cost per hour: amortised purchase (price / (years x 8760)) or rental. */
          eurPerHour: z.number().min(0).default(0.12),
          /** Average power draw of the machine while it generates, in watts. */
          powerWatts: z.number().min(0).default(150),
          /** Electricity price, added to the hardware cost (0 when the rental includes power). */
          electricityEurPerKwh: z.number().min(0).default(0.19),
          /** Country of the local server for grid intensity (ISO code), or "EU" / "WORLD" averages. */
          country: z.string().min(2).default("EU"),
        })
        .strict()
        .prefault({}),
      remote: z
        .object({
          /** Energy assumed for remote backends, per 1,000 tokens (input + output). */
          whPer1kTokens: z.number().min(0).default(0.3),
          /** Per-backend override of `whPer1kTokens`, by backend id. */
          whPer1kTokensByBackend: z.record(z.string(), z.number().min(0)).default({}),
        })
        .strict()
        .prefault({}),
      /** The model the "saved" figure compares with: a large hosted model's list price, EUR per 1M tokens. */
      reference: z
        .object({
          name: z.string().default("gpt-4o (list price)"),
          inputPerMillion: z.number().min(0).default(2.3),
          outputPerMillion: z.number().min(0).default(9.2),
        })
        .strict()
        .prefault({}),
      /** Overrides of grid intensity in gCO2e/kWh by country code (e.g. a green-power contract). */
      gridIntensity: z.record(z.string(), z.number().min(0)).default({}),
      /** Price table for backends that expose none, by backend id. */
      pricing: z.record(z.string(), eurPerMillion).default({}),
    })
    .strict()
    .prefault({}),
  audit: z
    .object({
      enabled: z.boolean().default(true),
      /** Origin line of signed checkpoints (C2SP signed-note); name it after the deployment. */
      origin: z.string().min(1).default("bastion/audit"),
      /** A signed checkpoint after this many records... */
      checkpointEvery: z.number().int().min(1).default(256),
      /** ...or this many seconds after the last one when records were added (and on shutdown). */
      checkpointSeconds: z.number().min(1).default(30),
      /** Delete records older than this many days (anchored by a checkpoint); 0 keeps everything. */
      retentionDays: z.number().min(0).default(0),
      /** Ed25519 private key (PEM); default `<dataDir>/audit-key.pem`, created 0600 on first use. */
      keyFile: z.string().optional(),
      /** Extra public keys (PEM files) whose checkpoints verify, e.g. of other instances. */
      trustedPublicKeys: z.array(z.string()).default([]),
    })
    .strict()
    .prefault({}),
  metrics: z
    .object({
      enabled: z.boolean().default(true),
      /** Serve `/metrics` on this port without auth (bind it to a private interface); absent = main port, admin key. */
      port: z.number().int().min(0).max(65535).optional(),
      host: z.string().default("127.0.0.1"),
    })
    .strict()
    .prefault({}),
};
