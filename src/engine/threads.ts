import { availableParallelism } from "node:os";

/**
 * The llama.cpp thread count used when the config says "auto".
 *
 * Measured with `npm run bench:engine -- --threads-sweep` on the 2-core CI machine (see README): llama.cpp's
 * threads spin-wait for each other, so on a box this small a second thread fights Node's own
 * event loop and the HTTP stack for the same cores. We leave one core to Node up to 4 cores, and
 * use all but two above that.
 */
export function defaultThreadCount(cores: number = availableParallelism()): number {
  if (cores <= 2) return 1;
  if (cores <= 4) return cores - 1;
  return cores - 2;
}
