import { availableParallelism, loadavg } from "node:os";

/**
 * The llama.cpp thread count used when the config says "auto": every core that is not already
 * busy with other processes when Bastion starts.
 *
 * Measured on the 2-core CI machine (README, "Threads"): on an otherwise idle box 2 threads decode
 * 1.7x and prefill 1.9x faster than 1, even through HTTP with the client on the same machine; but
 * with one other CPU-bound process running, 2 threads decode 1.7x slower than 1, because
 * llama.cpp's threads spin-wait for each other and one of them keeps losing its core. So the
 * cores that the load average says are taken are left alone.
 */
export function defaultThreadCount(
  cores: number = availableParallelism(),
  loadAverage: number = loadavg()[0] ?? 0,
): number {
  const busy = Math.round(Math.max(0, loadAverage));
  return Math.max(1, Math.min(cores, cores - busy));
}
