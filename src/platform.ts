import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { openControlPlane } from "./auth/control-plane.ts";
import type { Auth } from "./auth/index.ts";
import { createLocalBackend } from "./backends/local.ts";
import { type BastionConfig, defaultMemoryBudget } from "./config/config.ts";
import { dataDir } from "./config/paths.ts";
import type { ModelBackend, ModelDescriptor, ModelProvenance, ModelRegistry } from "./core/backend.ts";
import type { ChatService } from "./core/chat-service.ts";
import { BastionError, isBastionError } from "./core/errors.ts";
import type { RequestObserver } from "./core/request-record.ts";
import { getLlamaRuntime } from "./engine/llama.ts";
import { checkBatchingPatch } from "./engine/llama-patch.ts";
import { inspectModelFile } from "./engine/model-info.ts";
import {
  createModelPool,
  type ModelPool,
  type ModelPoolEvent,
  type ModelServeSpec,
} from "./engine/model-pool.ts";
import { defaultGenerationDefaults } from "./engine/model-runner.ts";
import { defaultThreadCount, measureBusyCores } from "./engine/threads.ts";
import { createGatewayFromConfig } from "./gateway/create-from-config.ts";
import type { Gateway } from "./gateway/gateway.ts";
import { readManifest, resolveModel } from "./models/store.ts";
import type { Store } from "./store/database.ts";

export interface Platform {
  config: Readonly<BastionConfig>;
  /** The engine's models and the configured routes (what `/v1/models` lists). */
  registry: ModelRegistry;
  /** The gateway: policy, routing, fallback, pseudonymisation; give it to `createApp({chat})`. */
  chat: ChatService;
  /** Backends with jurisdiction, price and health (`bastion backends`, `GET /admin/v1/backends`). */
  backends: Pick<Gateway, "backends">;
  pool: ModelPool;
  /**
   * Serves a model that arrived in the store while the server runs (an admin pull), under its store
   * id, with the configured `models` defaults; no restart needed.
   */
  serveModel(id: string, path: string): Promise<ModelDescriptor>;
  threads: number;
  memoryBudgetBytes: number;
  /** Problems with the inference engine the operator should fix (logged at start-up). */
  engineWarnings: string[];
  /** Persistent state: SQLite in the data directory, PostgreSQL when `DATABASE_URL` is set. */
  store: Store;
  /** Keys, sessions, limits, budgets and the admin service (src/auth/); give it to `createApp({auth})`. */
  auth: Auth;
  dispose(): Promise<void>;
}

export interface CreatePlatformOptions {
  /** Resolves a configured `path` that is not a file (e.g. a model id in the store) to a GGUF path. */
  resolveModelPath?: (reference: string) => Promise<string | undefined>;
  onPoolEvent?: (event: ModelPoolEvent) => void;
  /** An already open store (tests); else the configured one is opened and closed with the platform. */
  store?: Store;
  /** Told by the gateway about requests it refuses or finishes (metering's `refusals`). */
  observers?: readonly RequestObserver[];
  /** The gateway's log: circuit changes, policy blocks, fallbacks (counts and codes, never values). */
  logger?: Logger;
}

/** Licence, publisher and source of a model that came through the store (its folder's manifest). */
async function storeProvenance(path: string): Promise<{ provenance?: ModelProvenance }> {
  const manifest = await readManifest(dirname(path));
  if (manifest === undefined) return {};
  const provenance: ModelProvenance = { source: manifest.source };
  if (manifest.licence !== undefined) {
    const licence = manifest.licence as { id: string; url?: string };
    provenance.licence = { id: licence.id, ...(licence.url === undefined ? {} : { url: licence.url }) };
  }
  if (manifest.publisher !== undefined) {
    const publisher = manifest.publisher as { name: string; country?: string };
    provenance.publisher = {
      name: publisher.name,
      ...(publisher.country === undefined ? {} : { country: publisher.country }),
    };
  }
  return { provenance };
}

const storeLookup = (reference: string): Promise<string | undefined> =>
  resolveModel(reference).catch(() => undefined);

/** The composition root: builds the engine, the model pool, the backends and the registry. */
export async function createPlatform(
  config: Readonly<BastionConfig>,
  options: CreatePlatformOptions = {},
): Promise<Platform> {
  const threads =
    config.engine.threads === "auto"
      ? defaultThreadCount(undefined, await measureBusyCores())
      : config.engine.threads;
  const llama = await getLlamaRuntime({ gpu: config.engine.gpu });
  const batchingPatch = checkBatchingPatch();
  const memoryBudgetBytes =
    config.models.memoryBudget === "auto" ? defaultMemoryBudget() : config.models.memoryBudget;

  /** How a model is served: its entry's settings, else the `models` defaults (a pulled model has no entry). */
  const serveSpec = (
    id: string,
    path: string,
    entry: Partial<BastionConfig["models"]["entries"][number]> = {},
  ): ModelServeSpec => ({
    id,
    path,
    parallel: entry.parallel ?? config.models.parallel,
    contextSize: entry.contextSize ?? config.models.contextSize,
    threads: entry.threads ?? threads,
    maxQueue: entry.maxQueue ?? config.models.maxQueue,
    ...(entry.batchSize === undefined ? {} : { batchSize: entry.batchSize }),
    ...(entry.speculative === undefined ? {} : { speculative: entry.speculative }),
    ...(entry.temperature === undefined
      ? {}
      : { defaults: { ...defaultGenerationDefaults, temperature: entry.temperature } }),
  });

  const specs: ModelServeSpec[] = [];
  for (const entry of config.models.entries) {
    let path = entry.path;
    if (!existsSync(path)) {
      const resolved = await (options.resolveModelPath ?? storeLookup)(entry.path);
      if (resolved === undefined) {
        const looksLikeFile = entry.path.includes("/") || entry.path.endsWith(".gguf");
        throw new BastionError(
          "not_found",
          looksLikeFile
            ? `Model "${entry.id}": no file at ${entry.path}. Check the path.`
            : `Model "${entry.id}": "${entry.path}" is neither a file nor a model in the store. \`bastion models\` lists the store; \`bastion pull ${entry.path}\` fetches a catalog model.`,
        );
      }
      path = resolved;
    }
    let draftModelPath = entry.draftModel;
    if (draftModelPath !== undefined && !existsSync(draftModelPath)) {
      draftModelPath = await (options.resolveModelPath ?? storeLookup)(draftModelPath);
      if (draftModelPath === undefined) {
        throw new BastionError(
          "not_found",
          `Model "${entry.id}": its draftModel "${entry.draftModel}" is neither a file nor a model in the store.`,
        );
      }
    }
    specs.push({
      ...serveSpec(entry.id, path, entry),
      ...(draftModelPath === undefined ? {} : { draftModelPath }),
    });
  }

  const pool = createModelPool(specs, {
    llama,
    memoryBudgetBytes,
    idleUnloadMs: config.models.idleUnloadSeconds * 1000,
    ...(options.onPoolEvent === undefined ? {} : { onEvent: options.onPoolEvent }),
  });

  const backends = new Map<string, ModelBackend>();
  const byName = new Map<string, ModelBackend>();
  async function localBackend(spec: ModelServeSpec, aliases: string[]): Promise<ModelBackend> {
    const file = statSync(spec.path);
    return createLocalBackend({
      ...(batchingPatch.warning === undefined ? {} : { engineWarning: batchingPatch.warning }),
      id: spec.id,
      aliases,
      pool,
      path: spec.path,
      contextSize: spec.contextSize,
      createdAt: Math.floor(file.mtimeMs / 1000),
      fileInfo: await inspectModelFile(spec.path, file.size).catch((error: unknown) => {
        throw new BastionError(
          "invalid_request",
          `Model "${spec.id}": ${spec.path} is not a readable GGUF model (${(error as Error).message}).`,
          { cause: error },
        );
      }),
      ...(await storeProvenance(spec.path)),
      jurisdiction: { country: "local", zone: "local", operator: "this server" },
    });
  }
  for (const [index, spec] of specs.entries()) {
    const entry = config.models.entries[index]!;
    const backend = await localBackend(spec, entry.aliases);
    backends.set(spec.id, backend);
    for (const name of [spec.id, ...entry.aliases]) {
      if (byName.has(name))
        throw new BastionError("invalid_request", `Model id or alias "${name}" is used twice.`);
      byName.set(name, backend);
    }
  }

  /** A model pulled while the server runs: served at once with the configured defaults. */
  async function serveModel(id: string, path: string): Promise<ModelDescriptor> {
    const served = byName.get(id);
    if (served !== undefined) return served.describe();
    if (gateway.registry.get(id) !== undefined) {
      throw new BastionError(
        "conflict",
        `"${id}" already names a route or a remote model; add the pulled model to models.entries under another id, and restart.`,
      );
    }
    const spec = serveSpec(id, path);
    const backend = await localBackend(spec, []);
    await pool.add(spec).catch((error: unknown) => {
      throw isBastionError(error) && error.code !== "internal_error"
        ? error
        : new BastionError("invalid_request", `llama.cpp cannot load ${path}: ${(error as Error).message}`, {
            cause: error,
          });
    });
    // Checked again after the awaits: a second pull of the same id may have got here first.
    const winner = byName.get(id);
    if (winner !== undefined) return winner.describe();
    backends.set(id, backend);
    byName.set(id, backend);
    return backend.describe();
  }

  const registry: ModelRegistry = {
    async list(): Promise<ModelDescriptor[]> {
      return [...backends.values()].map((backend) => backend.describe());
    },
    get: (idOrAlias) => byName.get(idOrAlias),
    readiness: () =>
      backends.size === 0 ? { ready: false, reason: "No model is configured." } : pool.readiness(),
  };

  // Remote backends, routes and the residency policy; a config error fails start-up with its key path.
  let gateway: Gateway;
  try {
    gateway = createGatewayFromConfig({
      config,
      local: registry,
      ...(options.observers === undefined ? {} : { observers: options.observers }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  } catch (error) {
    await pool.dispose();
    throw error;
  }

  const control = await openControlPlane({
    config,
    dataDir: dataDir(),
    ...(options.store === undefined ? {} : { store: options.store }),
  }).catch(async (error: unknown) => {
    await gateway.dispose();
    await pool.dispose();
    throw error;
  });

  return {
    engineWarnings: batchingPatch.warning === undefined ? [] : [batchingPatch.warning],
    config,
    registry: gateway.registry,
    chat: gateway,
    backends: gateway,
    pool,
    serveModel,
    threads,
    memoryBudgetBytes,
    store: control.store,
    auth: control.auth,
    async dispose() {
      await gateway.dispose();
      await pool.dispose();
      await control.dispose();
    },
  };
}
