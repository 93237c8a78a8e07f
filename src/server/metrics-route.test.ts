import { describe, expect, it } from "vitest";
import { usageCsv, usageTable } from "../cli/usage.ts";
import { createMetrics } from "../metrics/metrics.ts";
import { serveMetricsApart } from "./metrics-route.ts";

describe("metrics on a separate port", () => {
  it("serves /metrics without auth on its own port, and nothing else", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const done = metrics.started("m", 2);
    const apart = await serveMetricsApart(metrics, 0, "127.0.0.1");
    try {
      const response = await fetch(`http://127.0.0.1:${apart.port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await response.text()).toMatch(/bastion_busy_sequences\{model="m"\} 1/);
      expect((await fetch(`http://127.0.0.1:${apart.port}/v1/models`)).status).toBe(404);
    } finally {
      done();
      await apart.close();
    }
  });
});

describe("bastion usage output", () => {
  const rows = [
    {
      day: "2026-12-01",
      model: "tiny",
      requests: 3,
      input_tokens: 30,
      output_tokens: 12,
      reasoning_tokens: 0,
      cached_tokens: 4,
      cost_eur: 0.000123456,
      energy_wh: 0.5,
      co2e_g: 0.12,
      reference_cost_eur: 0.0002,
      saved_eur: 0.000076544,
    },
    {
      ...{ day: "2026-12-02", model: 'a,"b"', requests: 1 },
      input_tokens: 1,
      output_tokens: 1,
      reasoning_tokens: 0,
      cached_tokens: 0,
      cost_eur: 0,
      energy_wh: 0,
      co2e_g: 0,
      reference_cost_eur: 0,
      saved_eur: 0,
    },
  ];
  it("prints an aligned table with the groups first", () => {
    const lines = usageTable(rows, ["day", "model"]).split("\n");
    expect(lines[0]).toMatch(/^day {9}model {2}requests/);
    expect(lines[1]).toContain("0.0001");
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
  });
  it("prints CSV with quoting", () => {
    const csv = usageCsv(rows, ["day", "model"]).split("\n");
    expect(csv[0]).toBe(
      "day,model,requests,input_tokens,output_tokens,reasoning_tokens,cached_tokens,cost_eur,energy_wh,co2e_g,reference_cost_eur,saved_eur",
    );
    expect(csv[2]).toMatch(/^2026-12-02,"a,""b""",1,/);
  });
});
