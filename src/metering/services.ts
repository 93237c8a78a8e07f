import type { Logger } from "pino";
import {
  type AuditLog,
  auditAdminActions,
  openAuditLog,
  pruneAuditLog,
  type VerifyResult,
  verifyAudit,
} from "../audit/index.ts";
import type { BastionConfig } from "../config/config.ts";
import type { ModelRegistry, Pricing } from "../core/backend.ts";
import type { ChatService } from "../core/chat-service.ts";
import type { Principal } from "../core/principal.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import type { Store } from "../store/database.ts";
import { createMeter, type Meter } from "./meter.ts";
import { observeChatService } from "./observe-chat-service.ts";
import { createOccupancyTracker, type OccupancyTracker } from "./occupancy.ts";
import { createRequestRecorder, type RequestRecorder } from "./request-recorder.ts";
import { createUsageStore, type UsageStore } from "./usage-store.ts";

/** Metering, usage, audit and metrics of one running server, built together. */
export interface MeteringServices {
  meter: Meter;
  usage: UsageStore;
  /** Absent when `audit.enabled` is false. */
  audit?: AuditLog;
  /** Absent when `metrics.enabled` is false. */
  metrics?: Metrics;
  occupancy: OccupancyTracker;
  /** The observer that prices, stores and audits a finished request (give it to the gateway). */
  recorder: RequestRecorder;
  /** Wraps a chat service that does not report requests itself (the direct, gateway-less one). */
  observe(chat: ChatService): ChatService;
  /** GDPR Art. 17 for metering and audit: unlinks the user's usage rows and audit records. */
  eraseUser(userId: string, by?: Parameters<AuditLog["eraseUser"]>[1]): Promise<void>;
  /**
   * Hooks an admin service (src/auth): its changes to tenants, users and keys are audited, and
   * erasing a user erases their pseudonym secret and unlinks their usage rows.
   */
  attachAdmin(admin: ErasableAdmin): void;
  /** Verifies the audit chain with this installation's trusted keys. */
  verifyAudit(): Promise<VerifyResult>;
  /** Stops timers and signs a last checkpoint. */
  close(): Promise<void>;
}

const dayMs = 86_400_000;

/** What `attachAdmin` needs of the admin service: its erasure hook registry. */
export interface ErasableAdmin {
  onErase(hook: (user: { id: string }, actor: Principal) => Promise<void> | void): void;
}

/** A backend as the gateway lists it (`Gateway.backends()`): whether it is this server, and its price table. */
export interface ListedBackend {
  id: string;
  kind: "local" | "remote";
  pricing: Pricing;
  /** Local model ids (the evidence names a local answer by its model id). */
  models: string[];
}

export function createMeteringServices(options: {
  config: Readonly<BastionConfig>;
  store: Store;
  dataDir: string;
  models?: ModelRegistry;
  /** The gateway's backends: tells local from remote and gives remote price tables; refreshed every 30 s. */
  backends?: { backends(): Promise<ListedBackend[]> };
  logger?: Logger;
}): MeteringServices {
  const { config, store, logger } = options;
  const models = options.models;
  // Evidence names a backend as `<local model id>` or `<backend id>/<model>`: both resolve here.
  let listed = new Map<string, { kind: "local" | "remote"; pricing: Pricing }>();
  const lookup = (backend: string) => listed.get(backend) ?? listed.get(backend.split("/")[0]!);
  const refreshBackends = async (): Promise<void> => {
    if (options.backends === undefined) return;
    const next = new Map<string, { kind: "local" | "remote"; pricing: Pricing }>();
    for (const backend of await options.backends.backends()) {
      const entry = { kind: backend.kind, pricing: backend.pricing };
      next.set(backend.id, entry);
      if (backend.kind === "local") for (const model of backend.models) next.set(model, entry);
    }
    listed = next;
  };
  const refresh = () =>
    void refreshBackends().catch((error: unknown) => logger?.warn({ err: error }, "could not list backends"));
  refresh();
  const backendTimer = options.backends === undefined ? undefined : setInterval(refresh, 30_000);
  backendTimer?.unref();
  const meter = createMeter(config.metering, {
    pricingOf: (backendId) => lookup(backendId)?.pricing ?? models?.get(backendId)?.pricing,
  });
  const usage = createUsageStore(store);
  const audit = config.audit.enabled
    ? openAuditLog({
        config: config.audit,
        store,
        dataDir: options.dataDir,
        ...(logger === undefined ? {} : { logger }),
      })
    : undefined;
  const metrics = config.metrics.enabled ? createMetrics(models === undefined ? {} : { models }) : undefined;
  const occupancy = createOccupancyTracker();
  const recorder = createRequestRecorder({
    meter,
    usage,
    ...(audit === undefined ? {} : { audit }),
    ...(metrics === undefined ? {} : { metrics }),
    ...(logger === undefined ? {} : { logger }),
  });
  const slots = new Map(
    config.models.entries.map((entry) => [entry.id, entry.parallel ?? config.models.parallel]),
  );

  const prune = async (): Promise<void> => {
    if (audit === undefined || config.audit.retentionDays <= 0) return;
    const upTo = await pruneAuditLog(store, new Date(Date.now() - config.audit.retentionDays * dayMs));
    if (upTo > 0) {
      await audit.appendEvent({ action: "audit.pruned", details: { up_to_seq: upTo } });
      logger?.info({ upToSeq: upTo }, "audit records past retention pruned");
    }
  };
  const pruneTimer =
    audit !== undefined && config.audit.retentionDays > 0
      ? setInterval(
          () => void prune().catch((error: unknown) => logger?.error({ err: error }, "audit prune failed")),
          dayMs,
        )
      : undefined;
  pruneTimer?.unref();
  void prune().catch((error: unknown) => logger?.error({ err: error }, "audit prune failed"));

  const services: MeteringServices = {
    meter,
    usage,
    ...(audit === undefined ? {} : { audit }),
    ...(metrics === undefined ? {} : { metrics }),
    occupancy,
    recorder,
    observe(chat) {
      return observeChatService(chat, {
        record: (record) => recorder.record(record),
        occupancy,
        slotsOf: (model) => slots.get(model) ?? config.models.parallel,
        kindOf: (backend, zone) => lookup(backend)?.kind ?? (zone === "local" ? "local" : "remote"),
        ...(metrics === undefined
          ? {}
          : { started: (model: string, count: number) => metrics.started(model, count) }),
        onError: (error, requestId) => logger?.error({ err: error, requestId }, "could not record a request"),
      });
    },
    async eraseUser(userId, by) {
      await usage.eraseUser(userId);
      await audit?.eraseUser(userId, by);
    },
    attachAdmin(admin) {
      if (audit !== undefined) auditAdminActions(admin, audit);
      admin.onErase((user, actor) => services.eraseUser(user.id, actor));
    },
    verifyAudit: () => verifyAudit({ config: config.audit, store, dataDir: options.dataDir }),
    async close() {
      if (pruneTimer !== undefined) clearInterval(pruneTimer);
      if (backendTimer !== undefined) clearInterval(backendTimer);
      await audit?.close();
    },
  };
  return services;
}
