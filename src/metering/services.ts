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
import type { RequestObserver } from "../core/request-record.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import type { Store } from "../store/database.ts";
import { sharedSqliteWriter } from "../store/sqlite-writer.ts";
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
  /**
   * For the gateway's `observers`: records the requests it refuses before any answer (policy
   * blocks with their detector counts, every candidate failed). Answers are recorded by `observe`,
   * so the gateway's reports of those are ignored here.
   */
  refusals: RequestObserver;
  /** Wraps a chat service so that every request is priced, stored and audited (see `observeChatService`). */
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
  const lookup = (backend: string) => {
    const found = listed.get(backend);
    if (found !== undefined) return found;
    // `<backend id>/<model>`: the part before the first slash (without splitting the whole name).
    const slash = backend.indexOf("/");
    return slash < 0 ? undefined : listed.get(backend.slice(0, slash));
  };
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
  const replayed = store.sqlite === undefined ? 0 : sharedSqliteWriter(store.sqlite).replayed;
  if (replayed > 0)
    logger?.warn(
      { replayed },
      "the last run stopped before committing some journaled writes (usage rows, audit records, budget settlements): they are committed now",
    );
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
  // Requests with an open session (recorded by the wrapper) and refusals the gateway reported.
  const opened = new Set<string>();
  const reported = new Map<string, NodeJS.Timeout>();
  const refusals: RequestObserver = {
    async onCompleted(record) {
      if (opened.has(record.requestId)) return;
      // An unknown model is client text, not a use of the platform (see observeChatService).
      if (record.errorCode === "model_not_found" || record.errorCode === "not_found") return;
      // The wrapper asks right after the refusal is thrown; forget the id a minute later.
      reported.set(record.requestId, setTimeout(() => reported.delete(record.requestId), 60_000).unref());
      await recorder.record(record);
    },
  };
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
    refusals,
    observe(chat) {
      return observeChatService(chat, {
        record: (record) => recorder.record(record),
        occupancy,
        slotsOf: (model) => slots.get(model) ?? config.models.parallel,
        kindOf: (backend, zone) => lookup(backend)?.kind ?? (zone === "local" ? "local" : "remote"),
        ...(metrics === undefined
          ? {}
          : { started: (model: string, count: number) => metrics.started(model, count) }),
        refusals: {
          opened: (requestId) => void opened.add(requestId),
          closed: (requestId) => void opened.delete(requestId),
          wasReported: (requestId) => {
            const timer = reported.get(requestId);
            if (timer !== undefined) clearTimeout(timer);
            return reported.delete(requestId);
          },
        },
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
    async verifyAudit() {
      // Records still waiting for their transaction are verified too.
      if (store.sqlite !== undefined) await sharedSqliteWriter(store.sqlite).flushed();
      return verifyAudit({ config: config.audit, store, dataDir: options.dataDir });
    },
    async close() {
      if (pruneTimer !== undefined) clearInterval(pruneTimer);
      if (backendTimer !== undefined) clearInterval(backendTimer);
      await audit?.close();
    },
  };
  return services;
}
