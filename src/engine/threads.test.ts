import { describe, expect, it } from "vitest";
import {
  adaptiveThreadsEnabled,
  createThreadGovernor,
  defaultThreadCount,
  governThreads,
  holdThreadGovernor,
  measureBusyCores,
} from "./threads.ts";

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

describe("thread governor", () => {
  // A 2-core machine whose counters advance 1000 ms of wall time (2000 ms of CPU time) per sample,
  // `busyMs` of it busy, `ownMs` of that this process's.
  function machine() {
    let busy = 0;
    let total = 0;
    let own = 0;
    return {
      advance(busyMs: number, ownMs: number) {
        busy += busyMs;
        total += 2000;
        own += ownMs;
      },
      probes: {
        readMachine: () => ({ busy, total, cores: 2 }),
        readOwnMs: () => own,
      },
    };
  }

  it("keeps the ceiling while only this process keeps the cores busy", () => {
    const box = machine();
    const governor = createThreadGovernor({ ceiling: 4, ...box.probes });
    for (let step = 0; step < 3; step++) {
      box.advance(2000, 1950);
      expect(governor.sample()).toEqual({ cap: 4, othersBusyCores: expect.closeTo(0.05, 5) });
    }
  });

  it("drops to the cores others leave free after two samples agree, and comes back the same way", () => {
    const box = machine();
    const governor = createThreadGovernor({ ceiling: 4, ...box.probes });
    box.advance(2000, 1000); // another process holds one core
    expect(governor.sample().cap).toBe(4);
    box.advance(2000, 1000);
    expect(governor.sample()).toEqual({ cap: 1, othersBusyCores: 1 });
    box.advance(1000, 1000); // it has gone
    expect(governor.sample().cap).toBe(1);
    box.advance(1000, 1000);
    expect(governor.sample().cap).toBe(4);
  });

  it("does not move for one burst of other work", () => {
    const box = machine();
    const governor = createThreadGovernor({ ceiling: 2, ...box.probes });
    box.advance(2000, 800);
    expect(governor.sample().cap).toBe(2);
    box.advance(1900, 1900);
    expect(governor.sample().cap).toBe(2);
    box.advance(2000, 800);
    expect(governor.sample().cap).toBe(2);
  });

  it("sets the runtime's maxThreads and gives it back when stopped", async () => {
    const box = machine();
    const runtime = { maxThreads: 4 };
    const changes: number[] = [];
    // Each reading of the counters sees another second with another process on one core.
    const stop = governThreads(runtime, {
      readMachine: () => {
        box.advance(2000, 1000);
        return box.probes.readMachine();
      },
      readOwnMs: box.probes.readOwnMs,
      intervalMs: 5,
      onChange: (sample) => changes.push(sample.cap),
    });
    try {
      for (let wait = 0; wait < 400 && runtime.maxThreads !== 1; wait++)
        await new Promise((resolve) => setTimeout(resolve, 5));
      expect(runtime.maxThreads).toBe(1);
      expect(changes).toEqual([1]);
    } finally {
      stop();
    }
    expect(runtime.maxThreads).toBe(4);
  });

  it("runs one governor per CPU runtime, none on a GPU or when turned off", () => {
    let started = 0;
    let stopped = 0;
    const start = () => {
      started++;
      return () => {
        stopped++;
      };
    };
    const cpu = { maxThreads: 4, gpu: false as const };
    const first = holdThreadGovernor(cpu, undefined, start);
    const second = holdThreadGovernor(cpu, true, start);
    expect(started).toBe(1);
    first();
    first();
    expect(stopped).toBe(0);
    second();
    expect(stopped).toBe(1);
    holdThreadGovernor({ maxThreads: 4, gpu: "cuda" }, true, start)();
    holdThreadGovernor(cpu, false, start)();
    expect(started).toBe(1);
  });

  it("is on unless the option or BASTION_ADAPTIVE_THREADS turns it off", () => {
    expect(adaptiveThreadsEnabled(undefined, {})).toBe(true);
    expect(adaptiveThreadsEnabled(undefined, { BASTION_ADAPTIVE_THREADS: "0" })).toBe(false);
    expect(adaptiveThreadsEnabled(undefined, { BASTION_ADAPTIVE_THREADS: "off" })).toBe(false);
    expect(adaptiveThreadsEnabled(true, { BASTION_ADAPTIVE_THREADS: "0" })).toBe(true);
    expect(adaptiveThreadsEnabled(false, {})).toBe(false);
  });
});
