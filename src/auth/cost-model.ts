import type { Jurisdiction, ModelRegistry, Pricing } from "../core/backend.ts";
import type { CompletedRequest } from "../core/request-record.ts";

/**
 * What budgets need from metering: an upper-bound estimate before a request runs, and the real
 * cost after. metering's `createMeter(config)` satisfies this; until a platform passes one, the
 * backends' own price tables are used.
 */
export interface CostModel {
  estimateCostEur(input: {
    backend?: { id: string; pricing?: Pricing; jurisdiction?: Jurisdiction };
    inputTokens: number;
    maxOutputTokens: number;
  }): number;
  price(record: CompletedRequest): { costEur: number };
}

/** Prices from each backend's `pricing` (EUR per 1M tokens); a backend the registry does not know costs 0. */
export function createPriceTableCostModel(registry?: ModelRegistry): CostModel {
  const perToken = (pricing: Pricing | undefined, input: number, output: number) =>
    pricing === undefined ? 0 : (input * pricing.inputPerMillion + output * pricing.outputPerMillion) / 1e6;
  return {
    estimateCostEur: ({ backend, inputTokens, maxOutputTokens }) =>
      perToken(backend?.pricing, inputTokens, maxOutputTokens),
    price: (record) => ({
      costEur: perToken(
        registry?.get(record.backend)?.pricing ?? registry?.get(record.model)?.pricing,
        record.usage.promptTokens,
        record.usage.completionTokens,
      ),
    }),
  };
}
