import type { BastionConfig } from "../config/config.ts";
import type { Pricing } from "../core/backend.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import { gridIntensity } from "./grid-intensity.ts";

export type MeteringConfig = BastionConfig["metering"];

/** What one request cost, in money, energy and carbon, and what the reference model would have cost. */
export interface PricedRequest {
  costEur: number;
  energyWh: number;
  co2eG: number;
  referenceCostEur: number;
  /** `referenceCostEur - costEur`: negative when the request cost more than the reference would have. */
  savedEur: number;
}

/** A backend as the meter needs to see it: its id, its price table, where it runs. */
export interface MeteredBackend {
  id: string;
  pricing?: Pricing;
  jurisdiction?: { country: string; zone: string };
}

export interface CostEstimateInput {
  /** The backend, when known; its kind follows from its jurisdiction zone ("local" = this server). */
  backend?: MeteredBackend;
  backendKind?: "local" | "remote";
  pricing?: Pricing;
  inputTokens: number;
  /** The most the request may generate (`max_tokens`, or the limits' assumption). */
  maxOutputTokens: number;
}

export interface Meter {
  /**
   * An upper-bound estimate of a request's cost before it runs, for budget reservations. Remote:
   * the price table. Local: the EUR per token this backend has been measured at (the highest of
   * the running average and a 5 tokens/s floor, so that a cold meter does not under-reserve).
   */
  estimateCostEur(input: CostEstimateInput): number;
  /** Cost, energy, carbon and saving of one finished request (see README "Metering"). */
  price(record: CompletedRequest): PricedRequest;
}

export interface CreateMeterOptions {
  /** The price table of a backend by id (e.g. from the registry or the gateway's backends). */
  pricingOf?: (backendId: string) => Pricing | undefined;
}

const msPerHour = 3_600_000;
/** Slowest single-stream speeds assumed by a cold estimate: CPU decoding and prompt reading. */
const floorDecodeTokensPerSecond = 5;
const floorPromptTokensPerSecond = 100;

/**
 * The meter. Local requests are charged their share of the machine: `busyMs / concurrency` (the
 * average number of requests the engine was serving at once, see `createOccupancyTracker`) times
 * the configured hardware EUR/hour, plus the energy that share drew (power draw x time) at the
 * electricity price. Remote requests pay the backend's EUR per 1M tokens and are assumed to draw
 * `remote.whPer1kTokens`. Carbon is energy x the grid intensity of the serving country.
 */
export function createMeter(config: MeteringConfig, options: CreateMeterOptions = {}): Meter {
  const localEurPerToken = new Map<string, number>();

  const isLocal = (kind: "local" | "remote" | undefined, backend?: MeteredBackend): boolean =>
    kind === "local" || (kind === undefined && backend?.jurisdiction?.zone === "local");

  const pricingFor = (backendId: string, explicit?: Pricing): Pricing | undefined =>
    explicit ?? config.pricing[backendId] ?? options.pricingOf?.(backendId);

  const tokenCost = (pricing: Pricing, input: number, output: number): number =>
    (input * pricing.inputPerMillion + output * pricing.outputPerMillion) / 1e6;

  const localCost = (shareMs: number): { costEur: number; energyWh: number } => {
    const energyWh = (config.local.powerWatts * shareMs) / msPerHour;
    const costEur =
      (config.local.eurPerHour * shareMs) / msPerHour + (energyWh / 1000) * config.local.electricityEurPerKwh;
    return { costEur, energyWh };
  };

  return {
    estimateCostEur(input) {
      const backendId = input.backend?.id ?? "";
      if (isLocal(input.backendKind, input.backend)) {
        const floor = localCost(
          (input.inputTokens / floorPromptTokensPerSecond +
            input.maxOutputTokens / floorDecodeTokensPerSecond) *
            1000,
        ).costEur;
        const learned = localEurPerToken.get(backendId);
        const measured = learned === undefined ? 0 : learned * (input.inputTokens + input.maxOutputTokens);
        return Math.max(floor, measured);
      }
      const pricing = pricingFor(backendId, input.pricing ?? input.backend?.pricing);
      return pricing === undefined ? 0 : tokenCost(pricing, input.inputTokens, input.maxOutputTokens);
    },

    price(record) {
      const input = record.usage.promptTokens;
      // completionTokens counts reasoning tokens too, as OpenAI's completion_tokens does.
      const output = record.usage.completionTokens;
      const local = record.backendKind === "local";
      let costEur: number;
      let energyWh: number;
      if (local) {
        const share = record.timings.busyMs / Math.max(1, record.concurrency ?? 1);
        ({ costEur, energyWh } = localCost(Math.max(0, share)));
        const tokens = input + output;
        if (tokens > 0) {
          const perToken = costEur / tokens;
          const previous = localEurPerToken.get(record.backend);
          localEurPerToken.set(
            record.backend,
            previous === undefined ? perToken : previous * 0.9 + perToken * 0.1,
          );
        }
      } else {
        const pricing = pricingFor(record.backend);
        costEur = pricing === undefined ? 0 : tokenCost(pricing, input, output);
        const whPer1k = config.remote.whPer1kTokensByBackend[record.backend] ?? config.remote.whPer1kTokens;
        energyWh = ((input + output) / 1000) * whPer1k;
      }
      const country =
        local || record.jurisdiction.country === "local" ? config.local.country : record.jurisdiction.country;
      const co2eG = (energyWh / 1000) * gridIntensity(country, config.gridIntensity);
      const referenceCostEur = tokenCost(config.reference, input, output);
      return { costEur, energyWh, co2eG, referenceCostEur, savedEur: referenceCostEur - costEur };
    },
  };
}
