import { describe, expect, it } from "vitest";
import { defaultThreadCount, measureBusyCores } from "./threads.ts";

describe("default thread count", () => {
  it("uses every core of an idle machine", () => {
    expect(defaultThreadCount(2, 0.1)).toBe(2);
    expect(defaultThreadCount(16, 0.4)).toBe(16);
  });

  it("leaves the cores other processes keep busy", () => {
    expect(defaultThreadCount(2, 1.1)).toBe(1);
    expect(defaultThreadCount(8, 2.6)).toBe(5);
  });

  it("never goes below one thread", () => {
    expect(defaultThreadCount(2, 7)).toBe(1);
    expect(defaultThreadCount(1, 0)).toBe(1);
  });

  it("turns CPU time counters into busy cores", async () => {
    // 2 cores, 1000 ms of CPU time between the samples, 600 ms of it busy: 1.2 cores busy.
    const samples = [
      { busy: 5_000, total: 20_000, cores: 2 },
      { busy: 5_600, total: 21_000, cores: 2 },
    ];
    expect(await measureBusyCores(1, () => samples.shift()!)).toBeCloseTo(1.2, 5);
  });

  it("sees at least the CPU a spinning worker of this process uses, however busy the machine is", async () => {
    // Whatever else runs (the suite on a busy CI box), the machine is at least as busy as this
    // process: the worker's CPU time, measured by the process itself, is a floor that no load moves.
    const { Worker } = await import("node:worker_threads");
    const spinner = new Worker("const end = Date.now() + 2000; while (Date.now() < end) {}", { eval: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ownBefore = process.cpuUsage();
    const startedAt = performance.now();
    const busy = await measureBusyCores(600);
    const own = process.cpuUsage(ownBefore);
    const ownCores = (own.user + own.system) / 1000 / (performance.now() - startedAt);
    await spinner.terminate();
    expect(ownCores).toBeGreaterThan(0.05);
    // /proc's counters tick every 10 ms, hence the small allowance.
    expect(busy).toBeGreaterThanOrEqual(ownCores * 0.9 - 0.05);
  });
});
