import { createAdaptorServer } from "@hono/node-server";
import type { Command } from "commander";
import { pino } from "pino";
import pretty from "pino-pretty";
import { announceAuth } from "../auth/announce.ts";
import {
  type BastionConfig,
  hubEndpoint,
  loadConfig,
  parseByteSize,
  parseModelArgument,
} from "../config/config.ts";
import { dataDir } from "../config/paths.ts";
import type { RequestObserver } from "../core/request-record.ts";
import { createDocuments } from "../documents/index.ts";
import { createMeteringServices } from "../metering/services.ts";
import { createPlatform } from "../platform.ts";
import { createPolicyEngine } from "../policy/index.ts";
import { createApp } from "../server/app.ts";
import { serveMetricsApart } from "../server/metrics-route.ts";
import { type ModelEntry, resolveDefaultModels, storeEntries } from "./default-model.ts";
import { integerOption } from "./options.ts";

interface ServeOptions {
  model: string[];
  port?: number;
  host?: string;
  config?: string;
  parallel?: number;
  ctxSize?: number;
  threads?: number;
  memoryBudget?: string;
  idleUnload?: number;
  offline?: boolean;
  store?: boolean;
  auth?: boolean;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("Serve models through the OpenAI-compatible API.")
    .option(
      "-m, --model <file|id=file>",
      "a GGUF file or store id to serve, optionally named (repeatable); every model in the store is served too (see --no-store)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("-p, --port <n>", "TCP port (default 8080, or BASTION_PORT)", integerOption("--port", 0, 65535))
    .option("--host <address>", "address to listen on (default 127.0.0.1, or BASTION_HOST)")
    .option("-c, --config <file>", "JSON or YAML config file (or BASTION_CONFIG)")
    .option("--parallel <n>", "parallel sequences per model (default 4)", integerOption("--parallel", 1, 64))
    .option(
      "--ctx-size <n>",
      "context tokens per sequence (default 4096)",
      integerOption("--ctx-size", 256, 1 << 20),
    )
    .option(
      "-t, --threads <n>",
      "llama.cpp threads per model (default: measured, see README)",
      integerOption("--threads", 1, 256),
    )
    .option("--memory-budget <size>", 'RAM for loaded models, e.g. "6GiB" (default: from free RAM)')
    .option(
      "--idle-unload <seconds>",
      "unload a model idle this long; 0 = never",
      integerOption("--idle-unload", 0, 1e9),
    )
    .option(
      "--no-store",
      "serve only the models given with --model or the config, not every model in the store",
    )
    .option("--no-auth", "turn API keys off: refused unless --host is loopback; for local experiments only")
    .option(
      "--offline",
      "never download: with no model configured and an empty store, serve the synthetic demo model",
    )
    .action(async (options: ServeOptions) => {
      await serve(options);
    });
}

async function serve(options: ServeOptions): Promise<void> {
  const level = process.env.BASTION_LOG_LEVEL ?? "info";
  // People at a terminal get readable lines; everything else (files, journald, Kubernetes) gets JSON.
  const readable = process.stdout.isTTY === true && process.env.BASTION_LOG_FORMAT !== "json";
  const logger = readable
    ? pino({ level }, pretty({ colorize: true, translateTime: "HH:MM:ss", ignore: "pid,hostname" }))
    : pino({ level, base: { service: "bastion" } });
  const apply =
    (extra: ModelEntry[] = []) =>
    (draft: BastionConfig): void => {
      if (options.port !== undefined) draft.server.port = options.port;
      if (options.host !== undefined) draft.server.host = options.host;
      if (options.parallel !== undefined) draft.models.parallel = options.parallel;
      if (options.ctxSize !== undefined) draft.models.contextSize = options.ctxSize;
      if (options.threads !== undefined) draft.engine.threads = options.threads;
      if (options.memoryBudget !== undefined) draft.models.memoryBudget = parseByteSize(options.memoryBudget);
      if (options.idleUnload !== undefined) draft.models.idleUnloadSeconds = options.idleUnload;
      if (options.auth === false) draft.auth.enabled = false;
      for (const argument of options.model) {
        const { id, path } = parseModelArgument(argument);
        draft.models.entries.push({ id, path, aliases: [] });
      }
      draft.models.entries.push(...extra);
      // Clients can always ask for "default": the first model, unless an entry claims the name.
      const entries = draft.models.entries;
      if (!entries.some((entry) => entry.id === "default" || entry.aliases.includes("default"))) {
        entries[0]?.aliases.push("default");
      }
    };
  const file = options.config === undefined ? {} : { file: options.config };
  let effective = loadConfig({ ...file, overrides: apply() });
  // Every model in the store is offered too (loaded on first use), unless a configured entry
  // already serves it under another id; configured ids win a clash.
  const configured = effective.models.entries;
  const taken = new Set(configured.flatMap((entry) => [entry.id, entry.path, ...entry.aliases]));
  let extra: ModelEntry[] =
    options.store === false
      ? []
      : (await storeEntries()).filter((entry) => !taken.has(entry.id) && !taken.has(entry.path));
  if (configured.length + extra.length === 0) {
    extra = await resolveDefaultModels({
      offline: options.offline === true,
      log: logger,
      endpoint: hubEndpoint(effective),
    });
  }
  if (extra.length > 0) effective = loadConfig({ ...file, overrides: apply(extra) });

  // The gateway reports requests it refuses (policy blocks, with detector counts) to metering,
  // which exists only once the platform's store does: a forwarder bridges the two.
  let refusals: RequestObserver | undefined;
  const platform = await createPlatform(effective, {
    observers: [{ onCompleted: (record) => refusals?.onCompleted(record) }],
    logger,
    onPoolEvent: (event) =>
      event.type === "load"
        ? logger.info(
            { model: event.id, estimatedBytes: event.bytes, ms: Math.round(event.ms) },
            "model loaded",
          )
        : logger.info({ model: event.id, reason: event.reason }, "model unloaded"),
  });
  // Metering, usage, audit and metrics over the platform's store (SQLite in the data directory, or DATABASE_URL).
  const store = platform.store;
  const metering = createMeteringServices({
    config: effective,
    store,
    dataDir: dataDir(),
    models: platform.registry,
    backends: platform.backends,
    logger,
  });
  refusals = metering.refusals;
  const metricsApart =
    effective.metrics.port !== undefined && metering.metrics !== undefined
      ? await serveMetricsApart(metering.metrics, effective.metrics.port, effective.metrics.host)
      : undefined;
  if (metricsApart !== undefined)
    logger.info(
      { url: `http://${effective.metrics.host}:${metricsApart.port}/metrics` },
      "metrics served apart",
    );
  const closeMetering = async () => {
    await metricsApart?.close();
    // A last signed checkpoint before the platform closes the store.
    await metering.close().catch((error: unknown) => logger.error({ err: error }, "audit close failed"));
  };
  // Budgets reserve and settle with the meter's self-hosted cost model, not just price tables.
  platform.auth.useCostModel(metering.meter);
  // Admin changes (tenants, users, keys) go to the audit log; erasing a user (GDPR Art. 17) also
  // unlinks their usage rows and audit records.
  metering.attachAdmin(platform.auth.admin);
  await announceAuth({ auth: platform.auth, dataDir: dataDir(), logger });
  // Files, vector stores, responses and assistants; ingestions left unfinished resume now.
  const documents = await createDocuments({
    store: platform.store,
    registry: platform.registry,
    config: effective,
    policy: createPolicyEngine(effective.policies),
    logger,
  });
  const app = createApp({
    documents,
    auth: platform.auth,
    metering,
    // The gateway (policy, routing, fallback), metered and audited like the direct service.
    chat: metering.observe(platform.chat),
    backends: platform.backends,
    registry: platform.registry,
    web: effective.web.enabled
      ? {
          store: platform.store,
          admin: platform.auth.admin,
          title: effective.web.title,
          maxBodyBytes: effective.server.maxBodyBytes,
        }
      : false,
    models: { pool: platform.pool, hubEndpoint: hubEndpoint(effective), serve: platform.serveModel },
    policies: { engine: createPolicyEngine(effective.policies), defaultPolicy: effective.policies.default },
    logger,
    maxBodyBytes: effective.server.maxBodyBytes,
    version: process.env.npm_package_version ?? "0.1.0",
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  server.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EADDRINUSE" || error.code === "EACCES") {
      const where = `${effective.server.host}:${effective.server.port}`;
      logger.fatal(
        error.code === "EADDRINUSE"
          ? `Cannot listen on ${where}: the port is in use. Pick another with --port or BASTION_PORT.`
          : `Cannot listen on ${where}: permission denied. Use a port above 1023.`,
      );
    } else {
      logger.fatal({ err: error }, "server error");
    }
    void platform.dispose().finally(() => process.exit(1));
  });
  await new Promise<void>((resolve) => server.listen(effective.server.port, effective.server.host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : effective.server.port;
  const models = await platform.registry.list();
  logger.info(
    {
      url: `http://${effective.server.host}:${port}/v1`,
      models: models.map((model) => model.id),
      threads: platform.threads,
      memoryBudgetBytes: Math.round(platform.memoryBudgetBytes),
      dataDir: dataDir(),
    },
    "Bastion is listening",
  );
  for (const warning of platform.engineWarnings) logger.warn(warning);
  for (const model of models) {
    if (model.synthetic) {
      logger.warn(
        { model: model.id },
        "SYNTHETIC MODEL: random weights, its answers are gibberish. Use it to try the API; serve a real GGUF with --model for real answers.",
      );
    }
  }
  // Load the first model now, so the first request does not pay for it.
  const first = models[0];
  if (first !== undefined) {
    // Until it is loaded, /ready answers 503 (and after a failed load, with the reason).
    void platform.pool
      .warm(first.id)
      .catch((error: unknown) => logger.error({ err: error, model: first.id }, "could not load model"));
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, "shutting down");
    server.close();
    void closeMetering()
      .then(() => platform.dispose())
      .finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}
