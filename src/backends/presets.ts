import type { Jurisdiction, Pricing } from "../core/backend.ts";

/** What a provider preset fills in, so that a user only adds a key. */
export interface BackendPreset {
  /** Shown by `bastion backends`. */
  title: string;
  /** Absent when the URL depends on the customer's resource (Azure): the config must give `baseUrl`. */
  baseUrl?: string;
  /** The environment variable the provider's own tools read, used when the config names none. */
  apiKeyEnv: string;
  authHeader: "bearer" | "api-key";
  jurisdiction: Jurisdiction;
  /**
   * Indicative EUR list price per million tokens of the provider's small general model, so that
   * "cheapest allowed" routing has something to compare; set `pricing` for your contract.
   */
  pricing: Pricing;
}

/*
 * Jurisdictions as the providers state them: the EU clouds are EU companies operating in the EU;
 * OpenAI and Azure are US operators whose EU regions stay under the CLOUD Act, hence
 * `extraterritorial`, which the residency policy can refuse even for an EU zone.
 */
export const backendPresets = {
  mistral: {
    title: "Mistral AI La Plateforme",
    baseUrl: "https://api.mistral.ai/v1",
    apiKeyEnv: "MISTRAL_API_KEY",
    authHeader: "bearer",
    jurisdiction: { country: "FR", zone: "EU", operator: "Mistral AI", extraterritorial: false },
    pricing: { inputPerMillion: 0.1, outputPerMillion: 0.3 },
  },
  scaleway: {
    title: "Scaleway Generative APIs",
    baseUrl: "https://api.scaleway.ai/v1",
    apiKeyEnv: "SCW_SECRET_KEY",
    authHeader: "bearer",
    jurisdiction: { country: "FR", zone: "EU", operator: "Scaleway", extraterritorial: false },
    pricing: { inputPerMillion: 0.2, outputPerMillion: 0.2 },
  },
  ovhcloud: {
    title: "OVHcloud AI Endpoints",
    baseUrl: "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
    apiKeyEnv: "OVH_AI_ENDPOINTS_ACCESS_TOKEN",
    authHeader: "bearer",
    jurisdiction: { country: "FR", zone: "EU", operator: "OVHcloud", extraterritorial: false },
    pricing: { inputPerMillion: 0.2, outputPerMillion: 0.2 },
  },
  ionos: {
    title: "IONOS AI Model Hub",
    baseUrl: "https://openai.inference.de-txl.ionos.com/v1",
    apiKeyEnv: "IONOS_API_TOKEN",
    authHeader: "bearer",
    jurisdiction: { country: "DE", zone: "EU", operator: "IONOS", extraterritorial: false },
    pricing: { inputPerMillion: 0.15, outputPerMillion: 0.15 },
  },
  openai: {
    title: "OpenAI",
    baseUrl: "https://api.openai.com/v1",
    apiKeyEnv: "OPENAI_API_KEY",
    authHeader: "bearer",
    jurisdiction: { country: "US", zone: "other", operator: "OpenAI", extraterritorial: true },
    pricing: { inputPerMillion: 0.14, outputPerMillion: 0.55 },
  },
  azure: {
    // The resource name is the customer's: `https://<resource>.openai.azure.com/openai/v1`.
    title: "Azure OpenAI",
    apiKeyEnv: "AZURE_OPENAI_API_KEY",
    authHeader: "api-key",
    jurisdiction: { country: "US", zone: "other", operator: "Microsoft Azure", extraterritorial: true },
    pricing: { inputPerMillion: 0.14, outputPerMillion: 0.55 },
  },
} as const satisfies Record<string, BackendPreset>;

export type BackendPresetName = keyof typeof backendPresets;

export const backendPresetNames = Object.keys(backendPresets) as [BackendPresetName, ...BackendPresetName[]];
