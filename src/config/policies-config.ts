import { z } from "zod";

/**
 * Top-level config keys for policies (the residency policy). Spread into the config schema;
 * every key has a default so that an empty config file stays valid.
 */

export const dataClasses = ["public", "internal", "personal", "secret"] as const;
export const policyActions = ["allow", "keep-local", "pseudonymise", "block"] as const;
/** The legal zones a backend's jurisdiction can name (see `core/backend.ts`). */
export const zones = ["local", "EU", "EEA", "adequacy", "other"] as const;
export const detectorTypes = [
  "email",
  "phone",
  "iban",
  "payment_card",
  "ip_address",
  "national_id",
  "secret",
  "person",
  "custom",
] as const;

const classRule = z
  .object({
    action: z.enum(policyActions),
    /** Where raw data of this class may go: zone names, or "any". */
    zones: z
      .union([z.literal("any"), z.array(z.enum(zones)).min(1)], {
        error: `"any" or a list of zones among ${zones.join(", ")} (case matters)`,
      })
      .optional(),
    /** When set, only these backend ids may receive raw data of this class. */
    backends: z.array(z.string().min(1)).min(1).optional(),
    /** Whether operators under non-EU law with extraterritorial reach may receive raw data. */
    extraterritorial: z.boolean().optional(),
  })
  .strict();

const customRule = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/, "lower-case letters, digits and _ (e.g. project_codename)"),
    /** A JavaScript regular expression; its whole match is the detection. */
    pattern: z.string().min(1).optional(),
    /** Regular-expression flags besides g: any of i, m, s, u. */
    flags: z
      .string()
      .regex(/^[imsu]*$/, "any of i, m, s, u")
      .optional(),
    /** Whole words or phrases to find (project code names, client names). */
    keywords: z.array(z.string().min(1)).min(1).optional(),
    /** Keywords match regardless of case unless this is true. */
    caseSensitive: z.boolean().default(false),
    /** The data class a match raises the request to. */
    class: z.enum(dataClasses).default("internal"),
  })
  .strict()
  .superRefine((rule, context) => {
    if ((rule.pattern === undefined) === (rule.keywords === undefined))
      context.addIssue({ code: "custom", message: "give exactly one of pattern or keywords" });
    if (rule.pattern !== undefined) {
      try {
        new RegExp(rule.pattern, `g${rule.flags ?? ""}`);
      } catch (error) {
        context.addIssue({
          code: "custom",
          path: ["pattern"],
          message: `not a valid regular expression: ${(error as Error).message}`,
        });
      }
    }
  });

const policyDefinition = z
  .object({
    /** Rules per data class; a class left out takes the rule of the built-in `eu-strict` policy. */
    classes: z
      .object({
        public: classRule.optional(),
        internal: classRule.optional(),
        personal: classRule.optional(),
        secret: classRule.optional(),
      })
      .strict()
      .prefault({}),
    /** Turn built-in detector types on or off (all on by default). */
    detectors: z.partialRecord(z.enum(detectorTypes), z.boolean()).default({}),
    custom: z.array(customRule).default([]),
    /** The class of a request in which nothing is detected. */
    defaultClass: z.enum(dataClasses).default("public"),
  })
  .strict();

export type ClassRuleConfig = z.infer<typeof classRule>;
export type PolicyDefinitionConfig = z.infer<typeof policyDefinition>;
export type CustomRuleConfig = z.infer<typeof customRule>;

const inEurope = ["local", "EU", "EEA"] as const;

/**
 * Policies that exist with no config. `eu-strict` (the default): personal data is pseudonymised
 * before it leaves the EU/EEA or goes to an operator under extraterritorial law, secrets stay on
 * this server, internal data stays in the EU/EEA. `local-only`: nothing leaves this server.
 * `eu-open`: personal data stays in Europe raw, secrets are blocked.
 */
export const builtInPolicies: Readonly<Record<string, PolicyDefinitionConfig>> = {
  "eu-strict": {
    classes: {
      public: { action: "allow", zones: "any", extraterritorial: true },
      internal: { action: "keep-local", zones: [...inEurope], extraterritorial: false },
      personal: { action: "pseudonymise", zones: [...inEurope], extraterritorial: false },
      secret: { action: "keep-local", zones: ["local"], extraterritorial: false },
    },
    detectors: {},
    custom: [],
    defaultClass: "public",
  },
  "local-only": {
    classes: {
      public: { action: "keep-local", zones: ["local"], extraterritorial: false },
      internal: { action: "keep-local", zones: ["local"], extraterritorial: false },
      personal: { action: "keep-local", zones: ["local"], extraterritorial: false },
      secret: { action: "keep-local", zones: ["local"], extraterritorial: false },
    },
    detectors: {},
    custom: [],
    defaultClass: "public",
  },
  "eu-open": {
    classes: {
      public: { action: "allow", zones: "any", extraterritorial: true },
      internal: { action: "keep-local", zones: [...inEurope, "adequacy"], extraterritorial: true },
      personal: { action: "keep-local", zones: [...inEurope], extraterritorial: true },
      secret: { action: "block" },
    },
    detectors: {},
    custom: [],
    defaultClass: "public",
  },
};

const policyName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lower-case letters, digits, - and _");

export const policiesConfigShape = {
  policies: z
    .object({
      /** The policy applied when neither the tenant nor the key names one. */
      default: policyName.default("eu-strict"),
      /** Named policies; a name that matches a built-in one replaces it. */
      definitions: z.record(policyName, policyDefinition).default({}),
    })
    .strict()
    .prefault({})
    .superRefine((policies, context) => {
      if (
        policies.definitions[policies.default] === undefined &&
        builtInPolicies[policies.default] === undefined
      )
        context.addIssue({
          code: "custom",
          path: ["default"],
          message: `no policy named "${policies.default}"; define it under policies.definitions or use one of ${Object.keys(builtInPolicies).join(", ")}`,
        });
    }),
};

export type PoliciesConfig = z.output<(typeof policiesConfigShape)["policies"]>;
