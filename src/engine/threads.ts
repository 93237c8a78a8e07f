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
  const list = cpus();
  for (const cpu of list) {
    const { user, nice, sys, idle, irq } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total, cores: list.length };
}

/** The cores kept busy on average between two readings (0 when no time passed). */
function busyCoresBetween(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total > 0 ? ((after.busy - before.busy) / total) * after.cores : 0;
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
  return busyCoresBetween(before, readTimes());
}

/** Where the governor reads its CPU time counters; replaced in tests. */
export interface ThreadGovernorProbes {
  /** The whole machine's CPU time counters (every process, every core). */
  readMachine?: () => CpuTimes;
  /** This process's CPU time in ms, every thread together (ggml's compute threads included). */
  readOwnMs?: () => number;
}

export interface ThreadGovernorOptions extends ThreadGovernorProbes {
  /** The most threads ever allowed: the runtime's `maxThreads` as it was before. */
  ceiling: number;
}

/** One step of the governor: the thread cap it settled on, and what it measured for it. */
export interface ThreadGovernorSample {
  cap: number;
  /** Cores that other processes kept busy since the previous sample. */
  othersBusyCores: number;
}

const ownCpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/**
 * Decides, sample by sample, how many llama.cpp threads may run: `ceiling` while other processes
 * keep no core busy, else every core they left idle since the last sample (at least 1). The busy cores are the machine's
 * minus this process's own, so Bastion's own (spinning) compute threads never count against it.
 * The cap moves only after two samples in a row agree, so one burst of other work does not flip it.
 *
 * Why: ggml's threads spin-wait for each other at every operation of a decode, so a decode with
 * more threads than free cores runs at the pace of whichever thread the scheduler has just taken
 * off its core. On the 2-core machine with other work running, 2 threads decoded 3-10x slower than
 * 1 (README, "Threads"); the thread count chosen at start-up cannot follow load that comes later.
 */
export function createThreadGovernor(options: ThreadGovernorOptions) {
  const readMachine = options.readMachine ?? cpuTimes;
  const readOwnMs = options.readOwnMs ?? ownCpuMs;
  let machine = readMachine();
  let own = readOwnMs();
  let cap = options.ceiling;
  let pending: number | undefined;
  return {
    get cap() {
      return cap;
    },
    sample(): ThreadGovernorSample {
      const nextMachine = readMachine();
      const nextOwn = readOwnMs();
      const total = nextMachine.total - machine.total;
      const busyCores = busyCoresBetween(machine, nextMachine);
      // The window the machine counters cover, in ms of one core: total is summed over every core.
      const ownCores = total > 0 ? (nextOwn - own) / (total / nextMachine.cores) : 0;
      machine = nextMachine;
      own = nextOwn;
      const othersBusyCores = Math.max(0, busyCores - ownCores);
      // With every core free, the ceiling itself: on a quiet machine nothing changes.
      const wanted =
        Math.round(othersBusyCores) === 0
          ? options.ceiling
          : Math.min(options.ceiling, defaultThreadCount(nextMachine.cores, othersBusyCores));
      if (wanted === cap) pending = undefined;
      else if (pending === wanted) {
        cap = wanted;
        pending = undefined;
      } else pending = wanted;
      return { cap, othersBusyCores };
    },
  };
}

/** What the governor steers: node-llama-cpp's `Llama` (its `maxThreads` caps every context's threads). */
export interface ThreadBudget {
  maxThreads: number;
}

/**
 * Starts a governor (createThreadGovernor) on a llama.cpp runtime: every `intervalMs` it sets the
 * runtime's `maxThreads`, which node-llama-cpp applies to each batch it decodes from then on.
 * Returns the function that stops it and gives the runtime its `maxThreads` back.
 */
export function governThreads(
  runtime: ThreadBudget,
  options: ThreadGovernorProbes & {
    intervalMs?: number;
    onChange?: (sample: ThreadGovernorSample) => void;
  } = {},
): () => void {
  const ceiling = runtime.maxThreads;
  const governor = createThreadGovernor({ ...options, ceiling });
  const timer = setInterval(() => {
    const before = governor.cap;
    const sample = governor.sample();
    runtime.maxThreads = sample.cap;
    if (sample.cap !== before) options.onChange?.(sample);
  }, options.intervalMs ?? 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    runtime.maxThreads = ceiling;
  };
}

const governed = new WeakMap<ThreadBudget, { users: number; stop: () => void }>();

/**
 * Holds the one governor (governThreads) of a CPU runtime however many models share it: the first
 * holder starts it, the last release stops it and gives the runtime its `maxThreads` back. Nothing
 * is started on a GPU runtime or when adaptive threads are off (adaptiveThreadsEnabled).
 */
export function holdThreadGovernor(
  runtime: ThreadBudget & { gpu: string | false },
  adaptive?: boolean,
  start: () => () => void = () => governThreads(runtime),
): () => void {
  if (runtime.gpu !== false || !adaptiveThreadsEnabled(adaptive)) return () => {};
  const entry = governed.get(runtime) ?? { users: 0, stop: start() };
  entry.users++;
  governed.set(runtime, entry);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    entry.users--;
    if (entry.users > 0) return;
    governed.delete(runtime);
    entry.stop();
  };
}

/**
 * Whether a CPU model's threads follow the machine's load (governThreads): the option when given,
 * else `BASTION_ADAPTIVE_THREADS` (`0`, `off` or `false` turn it off), else on.
 */
export function adaptiveThreadsEnabled(option: boolean | undefined, env = process.env): boolean {
  if (option !== undefined) return option;
  const value = env.BASTION_ADAPTIVE_THREADS?.trim().toLowerCase();
  return !(value === "0" || value === "off" || value === "false");
}
