import { availableParallelism, cpus } from "node:os";

/**
 * The llama.cpp thread count used when the config says "auto": every core that other processes
 * are not keeping busy when Bastion starts.
 *
 * Measured on the 2-core CI machine (README, "Threads"): on an otherwise idle box 2 threads decode
 * 1.7x and prefill 1.8x faster than 1, even through HTTP with the client on the same machine; but
 * with one other CPU-bound process running, 2 threads decode 1.7x slower than 1, because
 * llama.cpp's threads spin-wait for each other and one of them keeps losing its core. So the
 * cores found busy are left alone.
 */
export function defaultThreadCount(cores: number = availableParallelism(), busyCores = 0): number {
  const busy = Math.round(Math.max(0, busyCores));
  return Math.max(1, Math.min(cores, cores - busy));
}

/** Busy and total CPU milliseconds of the whole machine since boot, over every core. */
export interface CpuTimes {
  busy: number;
  total: number;
  cores: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const { user, nice, sys, idle, irq } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total, cores: cpus().length };
}

/**
 * How many cores are busy right now, sampled over `sampleMs` while this process waits. Unlike
 * the load average it is not inflated by what ran a minute ago (`npm ci` before `npm start`).
 */
export async function measureBusyCores(
  sampleMs = 300,
  readTimes: () => CpuTimes = cpuTimes,
): Promise<number> {
  const before = readTimes();
  await new Promise((resolve) => setTimeout(resolve, sampleMs));
  const after = readTimes();
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return ((after.busy - before.busy) / total) * after.cores;
}
