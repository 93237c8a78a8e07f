import type { Logger } from "pino";
import type { CompletedRequest, RequestObserver } from "../core/request-record.ts";
import type { Meter, PricedRequest } from "./meter.ts";
import type { UsageStore } from "./usage-store.ts";

/** Where a priced request goes besides the usage table: the audit log and the metrics. */
export interface PricedRequestSink {
  appendRequest?(record: CompletedRequest, priced: PricedRequest): Promise<unknown>;
  /** As `appendRequest`, resolving once the record survives a crash (see `AuditLog.appendRequestLater`). */
  appendRequestLater?(
    record: CompletedRequest,
    priced: PricedRequest,
  ): Promise<{ committed: Promise<unknown> }>;
  observe?(record: CompletedRequest, priced: PricedRequest): void;
}

/** Prices a finished request once, then writes its usage row and audit record and counts it. */
export interface RequestRecorder extends RequestObserver {
  /**
   * Resolves once the usage row and the audit record survive a crash (committed, or on SQLite in
   * the shared writer's write-ahead journal, which the next start replays); rejects when either
   * could not be written. A later failure to commit them is logged.
   */
  record(record: CompletedRequest): Promise<PricedRequest>;
  /**
   * Tells `observer` of every recorded request in the same turn as its writes are queued, so that
   * the observer's own writes (the budget settlement of src/auth) share their group commit. Its
   * failures are logged, never the recording's.
   */
  addObserver(observer: RequestObserver): void;
}

export interface RequestRecorderOptions {
  meter: Meter;
  usage?: UsageStore;
  audit?: PricedRequestSink;
  metrics?: PricedRequestSink;
  logger?: Logger;
}

/**
 * The metering and audit observer. `record` is what the chat pipeline awaits before it lets the
 * final part of an answer out, so that an answer the client received always has its records;
 * `onCompleted` (the plain observer) is for callers that only report.
 */
export function createRequestRecorder(options: RequestRecorderOptions): RequestRecorder {
  const observers = new Set<RequestObserver>();
  const tell = (record: CompletedRequest) => {
    for (const observer of observers) {
      const failed = (error: unknown) =>
        options.logger?.error({ err: error, requestId: record.requestId }, "request observer failed");
      try {
        void Promise.resolve(observer.onCompleted(record)).catch(failed);
      } catch (error) {
        failed(error);
      }
    }
  };
  const recorder: RequestRecorder = {
    async record(record) {
      const priced = options.meter.price(record);
      options.metrics?.observe?.(record, priced);
      const lost = (error: unknown) =>
        options.logger?.error(
          { err: error, requestId: record.requestId },
          "a journaled usage row or audit record failed to commit",
        );
      const usage = options.usage?.insertLater(record, priced);
      usage?.committed.catch(lost);
      const audit = options.audit?.appendRequestLater
        ? options.audit.appendRequestLater(record, priced).then((later) => {
            later.committed.catch(lost);
          })
        : options.audit?.appendRequest?.(record, priced);
      const written = Promise.all([usage?.journaled, audit]);
      tell(record);
      await written;
      return priced;
    },
    addObserver(observer) {
      observers.add(observer);
    },
    async onCompleted(record) {
      try {
        await recorder.record(record);
      } catch (error) {
        options.logger?.error(
          { err: error, requestId: record.requestId },
          "could not record a finished request",
        );
        throw error;
      }
    },
  };
  return recorder;
}
