import { type BackendPresetName, backendPresetNames, backendPresets } from "../backends/presets.ts";
import { type BackendConfig, secretReferencePattern } from "../config/gateway-config.ts";
import type { Jurisdiction, Pricing } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";

/** A remote backend's settings with its preset applied and its key read from the environment. */
export interface ResolvedRemoteBackend {
  id: string;
  title: string;
  preset?: BackendPresetName;
  baseUrl: string;
  /** The variable the key comes from (shown), never the key itself. */
  apiKeyEnv?: string;
  apiKey?: string;
  authHeader: "bearer" | "api-key";
  models: Record<string, string>;
  jurisdiction: Jurisdiction;
  pricing: Pricing;
  timeouts: BackendConfig["timeouts"];
  maxConcurrent: number;
  healthPath: string;
}

/** Where the engine's models run and what they cost, from `backends.local` or the defaults. */
export interface LocalPlace {
  jurisdiction: Jurisdiction;
  pricing: Pricing;
}

export const defaultLocalPlace: LocalPlace = {
  jurisdiction: { country: "local", zone: "local", operator: "this server" },
  pricing: { inputPerMillion: 0, outputPerMillion: 0 },
};

function configError(path: string, message: string): BastionError {
  return new BastionError("invalid_request", `config: ${path}: ${message}`);
}

/**
 * Applies presets and reads API keys. Errors name the key path and say how to fix it; a missing
 * key variable is an error only when `requireKeys` (serving), so `bastion backends` can still list.
 */
export function resolveBackendConfigs(
  backends: Readonly<Record<string, BackendConfig>>,
  options: { env?: NodeJS.ProcessEnv; requireKeys?: boolean } = {},
): { local: LocalPlace; remote: ResolvedRemoteBackend[]; problems: Map<string, string> } {
  const env = options.env ?? process.env;
  let local = defaultLocalPlace;
  const remote: ResolvedRemoteBackend[] = [];
  const problems = new Map<string, string>();
  for (const [id, backend] of Object.entries(backends)) {
    const path = `backends.${id}`;
    if (backend.kind === "local") {
      if (id !== "local")
        throw configError(`${path}.kind`, 'only the backend named "local" can be of kind local.');
      local = {
        jurisdiction: { ...defaultLocalPlace.jurisdiction, ...backend.jurisdiction },
        pricing: backend.pricing ?? defaultLocalPlace.pricing,
      };
      continue;
    }
    if (id === "local")
      throw configError(
        `${path}.kind`,
        '"local" is the engine\'s models; give the remote backend another name.',
      );
    let preset: (typeof backendPresets)[BackendPresetName] | undefined;
    if (backend.preset !== undefined) {
      if (!(backendPresetNames as string[]).includes(backend.preset)) {
        throw configError(
          `${path}.preset`,
          `unknown preset "${backend.preset}"; use one of ${backendPresetNames.join(", ")}.`,
        );
      }
      preset = backendPresets[backend.preset as BackendPresetName];
    }
    const baseUrl =
      backend.baseUrl ?? (preset !== undefined && "baseUrl" in preset ? preset.baseUrl : undefined);
    if (baseUrl === undefined) {
      throw configError(
        `${path}.baseUrl`,
        preset === undefined
          ? 'missing: give the OpenAI API root, e.g. "http://10.0.0.5:8000/v1", or a preset.'
          : `the ${backend.preset} preset needs your resource's URL, e.g. "https://<resource>.openai.azure.com/openai/v1".`,
      );
    }
    const jurisdiction = backend.jurisdiction ?? preset?.jurisdiction;
    if (jurisdiction === undefined) {
      throw configError(
        `${path}.jurisdiction`,
        'missing: say where it runs, e.g. {country: "FR", zone: "EU", operator: "ACME"}; the residency policy needs it.',
      );
    }
    const apiKeyEnv =
      backend.apiKey !== undefined
        ? secretReferencePattern.exec(backend.apiKey.trim())?.[1]
        : (backend.apiKeyEnv ?? preset?.apiKeyEnv);
    const apiKey = apiKeyEnv === undefined ? undefined : env[apiKeyEnv];
    if (apiKeyEnv !== undefined && (apiKey === undefined || apiKey === "")) {
      const problem = `the API key variable ${apiKeyEnv} is not set; export it (${path}.apiKeyEnv names another).`;
      // A self-hosted server without a key is normal; a preset's provider always wants one.
      if (preset !== undefined || backend.apiKey !== undefined || backend.apiKeyEnv !== undefined) {
        if (options.requireKeys === true) throw configError(path, problem);
        problems.set(id, problem);
      }
    }
    remote.push({
      id,
      title: preset?.title ?? "OpenAI-compatible server",
      ...(backend.preset === undefined ? {} : { preset: backend.preset as BackendPresetName }),
      baseUrl,
      ...(apiKeyEnv === undefined ? {} : { apiKeyEnv }),
      ...(apiKey === undefined || apiKey === "" ? {} : { apiKey }),
      authHeader: backend.authHeader ?? preset?.authHeader ?? "bearer",
      models: { ...backend.models },
      jurisdiction: { ...jurisdiction, extraterritorial: jurisdiction.extraterritorial ?? false },
      pricing: backend.pricing ?? preset?.pricing ?? { inputPerMillion: 0, outputPerMillion: 0 },
      timeouts: backend.timeouts,
      maxConcurrent: backend.maxConcurrent,
      healthPath: backend.healthPath,
    });
  }
  return { local, remote, problems };
}
