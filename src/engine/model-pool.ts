import type { Llama } from "node-llama-cpp";
import { BastionError } from "../core/errors.ts";
import { formatBinaryBytes } from "../core/format-bytes.ts";
import { loadModelRunner, type ModelRunner, type ModelServeSpec } from "./model-runner.ts";
import { estimateModelRam } from "./ram-estimate.ts";

export type { ModelServeSpec };

export interface ModelPoolOptions {
  llama: Llama;
  /** Bytes of RAM all loaded models together may use (weights + KV cache). */
  memoryBudgetBytes: number;
  /** Unload a model after it has been idle this long; 0 keeps models loaded. */
  idleUnloadMs: number;
  onEvent?: (event: ModelPoolEvent) => void;
}

export type ModelPoolEvent =
  | { type: "load"; id: string; bytes: number; ms: number }
  | { type: "unload"; id: string; reason: "idle" | "evicted" | "shutdown" | "requested" };

export interface RunnerLease {
  runner: ModelRunner;
  release(): void;
}

interface Entry {
  spec: ModelServeSpec;
  runner?: ModelRunner | undefined;
  loading?: Promise<ModelRunner> | undefined;
  /** Estimated RAM of the loaded model, known once estimated. */
  bytes?: number;
  /** RAM admitted after the load (the embedding context), released when it is freed. */
  extraBytes: number;
  /** Why the last load (or the start-up check) failed; cleared by a load that succeeds. */
  failure?: string | undefined;
  users: number;
  lastUsed: number;
  idleTimer?: NodeJS.Timeout | undefined;
}

export interface ModelPool {
  /** Loads the model if needed (evicting idle ones to make room) and pins it until released. */
  acquire(id: string): Promise<RunnerLease>;
  isLoaded(id: string): boolean;
  /** Frees a loaded model now (admin "unload"); false when it was not loaded. Refused while requests use it. */
  unload(id: string): Promise<boolean>;
  /** Loads a model ahead of its first request; the server is not ready until it is loaded. */
  warm(id: string): Promise<void>;
  /** Estimated RAM the model needs when loaded with its spec. */
  estimate(id: string): Promise<number>;
  /**
   * Serves one more model from now on (a model pulled while the server runs), loading it once to
   * prove it loads. Refused with `model_too_large` when it could never fit the budget, with
   * `conflict` when the id is taken by another file, and with the load's error when llama.cpp
   * cannot load it (then it is not added); adding the same file again does nothing.
   */
  add(spec: ModelServeSpec): Promise<void>;
  has(id: string): boolean;
  loadedBytes(): number;
  readonly budgetBytes: number;
  /**
   * Whether every model can serve: each was checked against the budget, none is loading, and
   * none failed its last load. The reason says which model is not ready and why (for `/ready`).
   */
  readiness(): { ready: boolean; reason?: string };
  dispose(): Promise<void>;
}

/**
 * Keeps the configured models within a memory budget: loads on first use, unloads after an idle
 * period, and evicts the least recently used idle model when a new one needs room. A model in use
 * is never evicted; a model that cannot fit even alone is refused with `model_too_large`.
 */
export function createModelPool(specs: readonly ModelServeSpec[], options: ModelPoolOptions): ModelPool {
  const entries = new Map<string, Entry>(
    specs.map((spec) => [spec.id, { spec, users: 0, lastUsed: 0, extraBytes: 0 }]),
  );
  let admission: Promise<unknown> = Promise.resolve();

  function entryOf(id: string): Entry {
    const entry = entries.get(id);
    if (entry === undefined) throw new BastionError("model_not_found", `No model "${id}" is configured.`);
    return entry;
  }

  async function estimate(entry: Entry): Promise<number> {
    if (entry.bytes !== undefined) return entry.bytes;
    const draftPath = entry.spec.draftModelPath;
    let draft = 0;
    if (draftPath !== undefined) {
      // One single-sequence draft context per sequence (see loadDraft in model-runner.ts).
      const one = await estimateModelRam({ ...entry.spec, path: draftPath, parallel: 1 });
      draft =
        one.weightsBytes + one.vocabularyBytes + (one.kvCacheBytes + one.computeBytes) * entry.spec.parallel;
    }
    entry.bytes = (await estimateModelRam(entry.spec)).totalBytes + draft;
    return entry.bytes;
  }

  /** Bytes held by loaded (or loading) models other than `except`. */
  function loadedBytes(except?: Entry): number {
    let total = 0;
    for (const entry of entries.values()) {
      if (entry !== except && (entry.runner !== undefined || entry.loading !== undefined))
        total += (entry.bytes ?? 0) + entry.extraBytes;
    }
    return total;
  }

  async function unload(entry: Entry, reason: "idle" | "evicted" | "shutdown" | "requested"): Promise<void> {
    const runner = entry.runner;
    if (runner === undefined) return;
    entry.runner = undefined;
    clearTimeout(entry.idleTimer);
    await runner.dispose();
    options.onEvent?.({ type: "unload", id: entry.spec.id, reason });
  }

  async function makeRoom(entry: Entry, needed: number): Promise<void> {
    if (needed > options.memoryBudgetBytes) {
      throw new BastionError(
        "model_too_large",
        `Model "${entry.spec.id}" needs about ${formatBinaryBytes(needed)} (weights + KV cache for ${entry.spec.parallel} sequences of ${entry.spec.contextSize} tokens), more than the whole memory budget of ${formatBinaryBytes(options.memoryBudgetBytes)}. Raise models.memoryBudget, or lower this model's contextSize or parallel.`,
      );
    }
    while (loadedBytes(entry) + needed > options.memoryBudgetBytes) {
      const victims = [...entries.values()]
        .filter((other) => other !== entry && other.runner !== undefined && other.users === 0)
        .sort((a, b) => a.lastUsed - b.lastUsed);
      const victim = victims[0];
      if (victim === undefined) {
        throw new BastionError(
          "model_too_large",
          `Model "${entry.spec.id}" needs about ${formatBinaryBytes(needed)}, but ${formatBinaryBytes(loadedBytes(entry))} of the ${formatBinaryBytes(options.memoryBudgetBytes)} budget is held by models that are busy right now. Retry shortly.`,
          { retryAfterSeconds: 5, isRetryable: true },
        );
      }
      await unload(victim, "evicted");
    }
  }

  /** Admission is serialised so that two loads cannot both count the same free memory. */
  async function admit(entry: Entry, needed: number): Promise<void> {
    const admitted = admission.then(() => makeRoom(entry, needed));
    admission = admitted.catch(() => undefined);
    await admitted;
  }

  /** Memory a loaded model allocates later (its embedding context) joins the budget first. */
  function reserveFor(entry: Entry) {
    return async (bytes: number): Promise<() => void> => {
      await admit(entry, (entry.bytes ?? 0) + entry.extraBytes + bytes);
      entry.extraBytes += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        entry.extraBytes -= bytes;
      };
    };
  }

  async function load(entry: Entry): Promise<ModelRunner> {
    try {
      const needed = await estimate(entry);
      await admit(entry, needed);
      const started = performance.now();
      const runner = await loadModelRunner({
        llama: options.llama,
        ...entry.spec,
        reserve: reserveFor(entry),
      });
      entry.failure = undefined;
      options.onEvent?.({ type: "load", id: entry.spec.id, bytes: needed, ms: performance.now() - started });
      return runner;
    } catch (error) {
      // Busy models holding the budget is a moment's wait, not a broken model.
      if (!(error instanceof BastionError && error.isRetryable)) entry.failure = (error as Error).message;
      throw error;
    }
  }

  /** Models loaded ahead of their first request; `/ready` waits for them. */
  const warming = new Set<string>();

  /** At start-up: every model's estimate, so one that can never fit the budget shows in `/ready`. */
  let checked = false;
  const startupCheck = Promise.all(
    [...entries.values()].map(async (entry) => {
      try {
        const needed = await estimate(entry);
        if (needed > options.memoryBudgetBytes) {
          entry.failure = `needs about ${formatBinaryBytes(needed)}, more than the memory budget of ${formatBinaryBytes(options.memoryBudgetBytes)}`;
        }
      } catch (error) {
        entry.failure = `cannot be read: ${(error as Error).message}`;
      }
    }),
  ).then(() => {
    checked = true;
  });

  function readiness(): { ready: boolean; reason?: string } {
    if (!checked) return { ready: false, reason: "Checking the configured models." };
    for (const entry of entries.values()) {
      if (entry.failure !== undefined)
        return { ready: false, reason: `Model "${entry.spec.id}" cannot serve: ${entry.failure}` };
    }
    for (const id of warming) return { ready: false, reason: `Model "${id}" is loading.` };
    return { ready: true };
  }

  function scheduleIdleUnload(entry: Entry): void {
    clearTimeout(entry.idleTimer);
    if (options.idleUnloadMs <= 0) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.users === 0) void unload(entry, "idle");
    }, options.idleUnloadMs);
    entry.idleTimer.unref();
  }

  return {
    budgetBytes: options.memoryBudgetBytes,
    async acquire(id) {
      const entry = entryOf(id);
      entry.users++;
      entry.lastUsed = performance.now();
      clearTimeout(entry.idleTimer);
      try {
        if (entry.runner === undefined) {
          entry.loading ??= load(entry).finally(() => {
            entry.loading = undefined;
          });
          entry.runner = await entry.loading;
        }
      } catch (error) {
        entry.users--;
        throw error;
      }
      const runner = entry.runner;
      let released = false;
      return {
        runner,
        release() {
          if (released) return;
          released = true;
          entry.users--;
          entry.lastUsed = performance.now();
          if (entry.users === 0) scheduleIdleUnload(entry);
        },
      };
    },
    isLoaded: (id) => entries.get(id)?.runner !== undefined,
    async unload(id) {
      const entry = entryOf(id);
      if (entry.users > 0)
        throw new BastionError(
          "not_ready",
          `Model "${id}" is serving ${entry.users} request(s); unload it when they have finished.`,
          { isRetryable: true },
        );
      if (entry.loading !== undefined) await entry.loading.catch(() => undefined);
      if (entry.runner === undefined) return false;
      await unload(entry, "requested");
      return true;
    },
    readiness,
    async warm(id) {
      warming.add(id);
      try {
        (await this.acquire(id)).release();
      } finally {
        warming.delete(id);
      }
    },
    estimate: (id) => estimate(entryOf(id)),
    has: (id) => entries.has(id),
    async add(spec) {
      const existing = entries.get(spec.id);
      if (existing !== undefined) {
        if (existing.spec.path === spec.path) return;
        throw new BastionError("conflict", `A model "${spec.id}" is already served from another file.`);
      }
      const entry: Entry = { spec, users: 0, lastUsed: 0, extraBytes: 0 };
      const needed = await estimate(entry);
      if (needed > options.memoryBudgetBytes) {
        throw new BastionError(
          "model_too_large",
          `Model "${spec.id}" needs about ${formatBinaryBytes(needed)} (weights + KV cache for ${spec.parallel} sequences of ${spec.contextSize} tokens), more than the whole memory budget of ${formatBinaryBytes(options.memoryBudgetBytes)}. Raise models.memoryBudget, or lower models.contextSize or models.parallel, and restart.`,
        );
      }
      // Two adds of one id racing: the first one in wins, the second finds it above next time.
      if (entries.has(spec.id)) return;
      entries.set(spec.id, entry);
      // Loaded once now, so that "served" means it really loads; a file llama.cpp refuses is dropped
      // again rather than left to fail every request (and /ready).
      try {
        (await this.acquire(spec.id)).release();
      } catch (error) {
        if (entries.get(spec.id) === entry && entry.users === 0) {
          clearTimeout(entry.idleTimer);
          entries.delete(spec.id);
        }
        throw error;
      }
    },
    loadedBytes: () => loadedBytes(),
    async dispose() {
      await startupCheck;
      await Promise.allSettled([...entries.values()].map((entry) => entry.loading));
      await Promise.all([...entries.values()].map((entry) => unload(entry, "shutdown")));
    },
  };
}
