import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import { gridIntensity, gridIntensityGPerKwh } from "./grid-intensity.ts";
import { createMeter } from "./meter.ts";
import { createOccupancyTracker } from "./occupancy.ts";

const metering = (overrides: Record<string, unknown> = {}) =>
  configSchema.parse({ metering: overrides }).metering;

function completed(overrides: Partial<CompletedRequest> = {}): CompletedRequest {
  return {
    requestId: "req-1",
    startedAt: new Date("2026-01-02T03:04:05Z"),
    endpoint: "/v1/chat/completions",
    requestedModel: "m",
    model: "m",
    backend: "m",
    backendKind: "local",
    jurisdiction: { country: "local", zone: "local", operator: "this server" },
    policy: { policy: "none", dataClass: "public", action: "allow", detections: {}, summary: "" },
    usage: { promptTokens: 1000, completionTokens: 500, reasoningTokens: 100, cachedPromptTokens: 0 },
    timings: { queueMs: 0, ttftMs: 100, totalMs: 3600, busyMs: 3600 },
    status: "ok",
    ...overrides,
  };
}

describe("meter", () => {
  it("charges a local request its share of hardware time and the energy that share drew", () => {
    const meter = createMeter(
      metering({ local: { eurPerHour: 1, powerWatts: 100, electricityEurPerKwh: 0.2, country: "FR" } }),
    );
    // 3.6 s busy = 1/1000 h: EUR 0.001 of hardware, 0.1 Wh, EUR 0.00002 of power, 56 g/kWh in France.
    const alone = meter.price(completed());
    expect(alone.energyWh).toBeCloseTo(0.1, 10);
    expect(alone.costEur).toBeCloseTo(0.001 + 0.0001 * 0.2, 10);
    expect(alone.co2eG).toBeCloseTo((0.1 / 1000) * 56, 10);
    // Sharing the engine with three others on average: a quarter of it.
    const shared = meter.price(completed({ concurrency: 4 }));
    expect(shared.costEur).toBeCloseTo(alone.costEur / 4, 12);
    expect(shared.energyWh).toBeCloseTo(alone.energyWh / 4, 12);
  });

  it("prices a remote request from the backend's table, its energy per 1k tokens and its country's grid", () => {
    const meter = createMeter(
      metering({ remote: { whPer1kTokens: 2, whPer1kTokensByBackend: { eu2: 1 } } }),
      {
        pricingOf: (id) =>
          id === "eu" || id === "eu2" ? { inputPerMillion: 10, outputPerMillion: 30 } : undefined,
      },
    );
    const remote = completed({
      backend: "eu",
      backendKind: "remote",
      jurisdiction: { country: "DE", zone: "EU", operator: "x" },
    });
    const priced = meter.price(remote);
    expect(priced.costEur).toBeCloseTo((1000 * 10 + 500 * 30) / 1e6, 12);
    expect(priced.energyWh).toBeCloseTo(3, 12);
    expect(priced.co2eG).toBeCloseTo((3 / 1000) * gridIntensityGPerKwh.DE!, 12);
    expect(meter.price({ ...remote, backend: "eu2" }).energyWh).toBeCloseTo(1.5, 12);
  });

  it("states what the same tokens would have cost on the reference model, and the saving", () => {
    const meter = createMeter(
      metering({ reference: { name: "big", inputPerMillion: 2, outputPerMillion: 8 } }),
    );
    const priced = meter.price(completed());
    expect(priced.referenceCostEur).toBeCloseTo((1000 * 2 + 500 * 8) / 1e6, 12);
    expect(priced.savedEur).toBeCloseTo(priced.referenceCostEur - priced.costEur, 12);
  });

  it("estimates before the run: the price table remotely, a conservative floor locally, then what it measured", () => {
    const meter = createMeter(metering({ local: { eurPerHour: 3.6, powerWatts: 0 } }));
    const remote = meter.estimateCostEur({
      backendKind: "remote",
      pricing: { inputPerMillion: 1, outputPerMillion: 2 },
      inputTokens: 1e6,
      maxOutputTokens: 1e6,
    });
    expect(remote).toBeCloseTo(3, 12);
    const backend = { id: "m", jurisdiction: { country: "local", zone: "local" } };
    // 100 input tokens at 100/s + 50 output at 5/s = 11 s at EUR 0.001/s.
    expect(meter.estimateCostEur({ backend, inputTokens: 100, maxOutputTokens: 50 })).toBeCloseTo(0.011, 9);
    // After a slow measured request (3.6 s for 2 tokens), the learned rate exceeds the floor.
    meter.price(
      completed({
        usage: { promptTokens: 1, completionTokens: 1, reasoningTokens: 0, cachedPromptTokens: 0 },
      }),
    );
    expect(meter.estimateCostEur({ backend, inputTokens: 100, maxOutputTokens: 50 })).toBeCloseTo(
      150 * 0.0018,
      9,
    );
  });

  it("reads grid intensity from the table, overrides first, the world average for an unknown country", () => {
    expect(gridIntensity("fr")).toBe(gridIntensityGPerKwh.FR);
    expect(gridIntensity("FR", { FR: 10 })).toBe(10);
    expect(gridIntensity("ZZ")).toBe(gridIntensityGPerKwh.WORLD);
  });
});

describe("occupancy tracker", () => {
  it("gives a request the time-weighted number of requests it shared the engine with, capped at the slots", () => {
    let now = 0;
    const tracker = createOccupancyTracker(() => now);
    const endA = tracker.begin("m", 4);
    now = 10;
    const endB = tracker.begin("m", 4);
    now = 20;
    expect(endB()).toBeCloseTo(2, 9); // B ran 10 ms, A beside it all along
    now = 30;
    expect(endA()).toBeCloseTo((10 * 1 + 10 * 2 + 10 * 1) / 30, 9);
    const ends = [1, 2, 3, 4, 5, 6].map(() => tracker.begin("m", 2));
    now = 40;
    expect(ends[0]!()).toBe(2);
    expect(tracker.inFlight("m")).toBe(5);
  });
});
