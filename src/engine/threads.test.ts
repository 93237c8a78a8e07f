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

  it("sees a core kept busy by a spinning worker", async () => {
    const { Worker } = await import("node:worker_threads");
    const idle = await measureBusyCores(200);
    const spinner = new Worker("const end = Date.now() + 1500; while (Date.now() < end) {}", { eval: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const loaded = await measureBusyCores(400);
    await spinner.terminate();
    expect(loaded).toBeGreaterThan(0.7);
    expect(loaded).toBeGreaterThan(idle + 0.5);
  });
});
