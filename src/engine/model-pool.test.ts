import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { syntheticModelPath } from "../../test/support/test-server.ts";
import { BastionError } from "../core/errors.ts";
import { getLlamaRuntime } from "./llama.ts";
import { createModelPool, type ModelPool, type ModelPoolEvent, type ModelServeSpec } from "./model-pool.ts";

let tinyPath: string;
let pools: ModelPool[] = [];

beforeAll(async () => {
  tinyPath = await syntheticModelPath("tiny");
});

afterEach(async () => {
  await Promise.all(pools.map((pool) => pool.dispose()));
  pools = [];
});

function spec(id: string): ModelServeSpec {
  return { id, path: tinyPath, parallel: 1, contextSize: 1024, threads: 1, maxQueue: 4 };
}

async function makePool(options: { budgetModels?: number; budgetBytes?: number; idleUnloadMs?: number }) {
  const llama = await getLlamaRuntime({ gpu: false });
  const events: ModelPoolEvent[] = [];
  // Size the budget in units of one model's own estimate, so the test holds whatever the estimate is.
  const probe = createModelPool([spec("probe")], { llama, memoryBudgetBytes: 1e12, idleUnloadMs: 0 });
  const oneModel = await probe.estimate("probe");
  const pool = createModelPool([spec("a"), spec("b"), spec("c")], {
    llama,
    memoryBudgetBytes: options.budgetBytes ?? oneModel * (options.budgetModels ?? 2.5),
    idleUnloadMs: options.idleUnloadMs ?? 0,
    onEvent: (event) => events.push(event),
  });
  pools.push(pool);
  return { pool, events, oneModel };
}

async function use(pool: ModelPool, id: string): Promise<void> {
  const lease = await pool.acquire(id);
  lease.release();
}

describe("model pool under a memory budget", () => {
  it("loads on first use and evicts the least recently used idle model", async () => {
    const { pool, events } = await makePool({ budgetModels: 2.5 });
    expect(pool.isLoaded("a")).toBe(false);
    await use(pool, "a");
    await use(pool, "b");
    await use(pool, "a"); // a is now more recent than b
    await use(pool, "c");
    expect(pool.isLoaded("a")).toBe(true);
    expect(pool.isLoaded("b")).toBe(false);
    expect(pool.isLoaded("c")).toBe(true);
    expect(events.filter((event) => event.type === "unload")).toEqual([
      { type: "unload", id: "b", reason: "evicted" },
    ]);
    expect(pool.loadedBytes()).toBeLessThanOrEqual(pool.budgetBytes);
  });

  it("never evicts a model that is busy, and says so with a retryable 503", async () => {
    const { pool } = await makePool({ budgetModels: 2.5 });
    const a = await pool.acquire("a");
    const b = await pool.acquire("b");
    const error = await pool.acquire("c").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BastionError);
    expect((error as BastionError).code).toBe("model_too_large");
    expect((error as BastionError).status).toBe(503);
    expect((error as BastionError).isRetryable).toBe(true);
    expect(pool.isLoaded("a") && pool.isLoaded("b")).toBe(true);
    b.release();
    await use(pool, "c"); // b is idle now, so it makes room
    expect(pool.isLoaded("b")).toBe(false);
    a.release();
  });

  it("refuses a model that cannot fit even alone, naming the sizes", async () => {
    const { pool, oneModel } = await makePool({ budgetModels: 0.5 });
    const error = (await pool.acquire("a").catch((caught: unknown) => caught)) as BastionError;
    expect(error.code).toBe("model_too_large");
    expect(error.isRetryable).toBe(false);
    expect(error.message).toMatch(/more than the whole memory budget/);
    expect(oneModel).toBeGreaterThan(pool.budgetBytes);
    expect(pool.isLoaded("a")).toBe(false);
  });

  it("unloads a model once it has been idle for the configured time", async () => {
    const { pool, events } = await makePool({ budgetModels: 3, idleUnloadMs: 150 });
    await use(pool, "a");
    expect(pool.isLoaded("a")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(pool.isLoaded("a")).toBe(false);
    expect(events.at(-1)).toEqual({ type: "unload", id: "a", reason: "idle" });
  });
});

describe("readiness (/ready must be something a Kubernetes probe can trust)", () => {
  async function settled(pool: ModelPool) {
    for (
      let attempt = 0;
      attempt < 200 && pool.readiness().reason === "Checking the configured models.";
      attempt++
    )
      await new Promise((resolve) => setTimeout(resolve, 20));
    return pool.readiness();
  }

  it("is not ready while a model warms up, and ready once it is loaded", async () => {
    const { pool } = await makePool({ budgetModels: 3 });
    expect(await settled(pool)).toEqual({ ready: true });
    const warming = pool.warm("a");
    expect(pool.readiness()).toEqual({ ready: false, reason: 'Model "a" is loading.' });
    await warming;
    expect(pool.readiness()).toEqual({ ready: true });
  });

  it("names a model that can never fit the memory budget", async () => {
    const { pool } = await makePool({ budgetModels: 0.5 });
    const readiness = await settled(pool);
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/^Model "a" cannot serve: needs about .* more than the memory budget/);
  });

  it("is not ready after a model failed to load, with the reason", async () => {
    const { mkdtemp, readFile, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(`${tmpdir()}/bastion-ready-`);
    // The header and tensor table are intact, the weights are cut short: only loading finds out.
    const truncated = `${dir}/truncated.gguf`;
    await writeFile(truncated, (await readFile(tinyPath)).subarray(0, 4 * 1024 * 1024));
    const llama = await getLlamaRuntime({ gpu: false });
    const pool = createModelPool([{ ...spec("broken"), path: truncated }], {
      llama,
      memoryBudgetBytes: 1e12,
      idleUnloadMs: 0,
    });
    pools.push(pool);
    expect(await settled(pool)).toEqual({ ready: true });
    await expect(pool.warm("broken")).rejects.toThrow();
    const readiness = pool.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/^Model "broken" cannot serve: /);
  });
});

describe("embedding context memory", () => {
  it("counts the embedding context in the budget, and does not keep one that could not be created", async () => {
    const { pool, oneModel } = await makePool({ budgetModels: 2.02 });
    const signal = new AbortController().signal;
    const a = await pool.acquire("a");
    const b = await pool.acquire("b");
    // b is busy, so there is no room for a's embedding context: a retryable refusal.
    const refused = (await a.runner
      .embed(["bonjour"], { signal })
      .catch((error: unknown) => error)) as BastionError;
    expect(refused.code).toBe("model_too_large");
    expect(refused.isRetryable).toBe(true);
    expect(pool.loadedBytes()).toBe(2 * oneModel);
    b.release();
    // The failure was not cached: now b can be evicted and the context is created.
    const { vectors } = await a.runner.embed(["bonjour"], { signal });
    expect(vectors[0]!.length).toBeGreaterThan(0);
    expect(pool.isLoaded("b")).toBe(false);
    expect(pool.loadedBytes()).toBeGreaterThan(oneModel);
    a.release();
  });
});

describe("a draft model in the budget", () => {
  it("counts the draft model's weights and context with the model's", async () => {
    const llama = await getLlamaRuntime({ gpu: false });
    const pool = createModelPool([spec("plain"), { ...spec("drafted"), draftModelPath: tinyPath }], {
      llama,
      memoryBudgetBytes: 1e12,
      idleUnloadMs: 0,
    });
    pools.push(pool);
    expect(await pool.estimate("drafted")).toBe(2 * (await pool.estimate("plain")));
  });
});
