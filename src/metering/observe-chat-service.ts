import type { ChatStreamPart, Usage } from "../core/chat.ts";
import type { ChatEvidence, ChatService, ChatServiceContext, ChatSession } from "../core/chat-service.ts";
import { BastionError, isBastionError } from "../core/errors.ts";
import { type CompletedRequest, requestIdentity } from "../core/request-record.ts";
import type { PricedRequest } from "./meter.ts";
import type { OccupancyTracker } from "./occupancy.ts";
import { createUsageTally } from "./usage-so-far.ts";

export interface ObserveChatServiceOptions {
  /** Prices and records a finished request (usage row, audit record); awaited before the final part. */
  record(record: CompletedRequest): Promise<PricedRequest>;
  occupancy: OccupancyTracker;
  /** Parallel sequences of a model (the occupancy cap); 1 when unknown. */
  slotsOf?(model: string): number;
  /** Whether a backend (as the evidence names it) is this server's engine; default: its zone is "local". */
  kindOf?(backend: string, zone: string): "local" | "remote";
  /** Counts the request in flight until the returned function is called (metrics gauges). */
  started?(model: string, slots: number): () => void;
  /**
   * When the wrapped service (the gateway) reports its own refusals (policy blocks, every candidate
   * failed) to an observer, with the policy's detector counts: the wrapper tells it which requests
   * got a session (those it records itself) and asks whether a refusal was already reported.
   */
  refusals?: {
    opened(requestId: string): void;
    closed(requestId: string): void;
    wasReported(requestId: string): boolean;
  };
  /** Reports a recording failure that could not be surfaced to the client. */
  onError?(error: unknown, requestId: string): void;
}

const zeroUsage: Usage = { promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedPromptTokens: 0 };

/**
 * Turns every chat through `inner` into a `CompletedRequest` for metering and audit. The finish
 * part is held back until `record` has committed the usage row and the audit record, so an answer
 * the client saw complete always has its record, even if the process is killed right after; if
 * recording fails, the client gets an error instead of the finish. Requests that fail or are
 * cancelled are recorded too, after the fact. The gateway (src/gateway) does the same for routed
 * requests; this wraps the direct (gateway-less) service.
 */
export function observeChatService(inner: ChatService, options: ObserveChatServiceOptions): ChatService {
  return {
    async open(request, context) {
      const startedAt = new Date();
      const t0 = performance.now();
      let session: ChatSession;
      try {
        session = await inner.open(request, context);
      } catch (error) {
        // Refused before any part (unknown model, policy block, full queue): recorded before the
        // error goes out, so that a client holding the refusal can find its record.
        const status = isBastionError(error) && error.code === "forbidden" ? "blocked" : "error";
        // An unknown model is the client's typo, not a use of the platform; its name is client
        // text that must not reach the audit log or a metrics label.
        if (isBastionError(error) && (error.code === "model_not_found" || error.code === "not_found"))
          throw error;
        if (options.refusals?.wasReported(context.requestId) === true) throw error;
        await options
          .record(
            refusedRecord(
              request.model,
              context,
              startedAt,
              performance.now() - t0,
              status,
              errorCode(error),
            ),
          )
          .catch((failure: unknown) => options.onError?.(failure, context.requestId));
        throw error;
      }
      options.refusals?.opened(context.requestId);
      const model = session.model.id;
      const slots = options.slotsOf?.(model) ?? 1;
      const endOccupancy = options.occupancy.begin(model, slots);
      const endInFlight = options.started?.(model, slots) ?? (() => {});
      let metered: ChatEvidence["usage"];
      const build = (
        usage: Usage,
        timings: { queueMs: number; busyMs?: number },
        ttftMs: number,
        status: CompletedRequest["status"],
        code?: string,
      ): CompletedRequest => {
        const evidence = session.evidence();
        const totalMs = performance.now() - t0;
        return {
          ...requestIdentity(context, request.model, startedAt),
          model,
          backend: evidence.backend,
          backendKind:
            options.kindOf?.(evidence.backend, evidence.jurisdiction.zone) ??
            (evidence.jurisdiction.zone === "local" ? "local" : "remote"),
          jurisdiction: evidence.jurisdiction,
          policy: evidence.policy,
          usage,
          timings: {
            queueMs: timings.queueMs,
            ttftMs,
            totalMs,
            busyMs: timings.busyMs ?? Math.max(0, totalMs - timings.queueMs),
          },
          concurrency: endOccupancy(),
          status,
          ...(code === undefined ? {} : { errorCode: code }),
        };
      };

      async function* observed(): AsyncGenerator<ChatStreamPart> {
        let ttftMs = -1;
        let finished = false;
        const tally = createUsageTally(request);
        try {
          for await (const part of session.parts) {
            if (ttftMs < 0) ttftMs = performance.now() - t0;
            if (part.type !== "finish") {
              tally.count(part);
              yield part;
              continue;
            }
            const timings = part.timings;
            const record = build(
              part.usage,
              timings === undefined
                ? { queueMs: 0 }
                : { queueMs: timings.queueMs, busyMs: timings.promptMs + timings.generationMs },
              ttftMs,
              part.finishReason === "cancelled" ? "cancelled" : "ok",
            );
            finished = true;
            let priced: PricedRequest;
            try {
              priced = await options.record(record);
            } catch (error) {
              options.onError?.(error, context.requestId);
              throw new BastionError(
                "internal_error",
                "The answer is withheld because its audit record could not be written; retry shortly.",
                { cause: error },
              );
            }
            metered = { costEur: priced.costEur, energyWh: priced.energyWh, co2eG: priced.co2eG };
            yield part;
          }
        } catch (error) {
          if (!finished) {
            finished = true;
            const status = context.signal.aborted ? "cancelled" : "error";
            // A cancelled request is charged what it used until then; a failed one, nothing known.
            const usage = status === "cancelled" ? tally.usage() : zeroUsage;
            void options
              .record(build(usage, { queueMs: 0 }, Math.max(0, ttftMs), status, errorCode(error)))
              .catch((failure: unknown) => options.onError?.(failure, context.requestId));
          }
          throw error;
        } finally {
          if (!finished) {
            // The consumer stopped early (client gone): the request was cancelled mid-answer, and
            // is charged the tokens it used until then.
            void options
              .record(build(tally.usage(), { queueMs: 0 }, Math.max(0, ttftMs), "cancelled", "cancelled"))
              .catch((failure: unknown) => options.onError?.(failure, context.requestId));
          }
          endOccupancy();
          endInFlight();
          options.refusals?.closed(context.requestId);
        }
      }

      return {
        model: session.model,
        evidence: () => {
          const evidence = session.evidence();
          return metered === undefined ? evidence : { ...evidence, usage: metered };
        },
        parts: observed(),
      };
    },
  };
}

function errorCode(error: unknown): string {
  return isBastionError(error) ? error.code : "internal_error";
}

/** The record of a request that ended before any backend served it (refused, queue full, failed). */
export function refusedRecord(
  model: string,
  context: Pick<ChatServiceContext, "requestId" | "endpoint" | "principal">,
  startedAt: Date,
  totalMs: number,
  status: CompletedRequest["status"],
  code: string,
): CompletedRequest {
  return {
    ...requestIdentity(context, model, startedAt),
    model,
    backend: "none",
    backendKind: "local",
    jurisdiction: { country: "local", zone: "local", operator: "this server" },
    policy: {
      policy: "none",
      dataClass: "unclassified",
      action: status === "blocked" ? "block" : "allow",
      detections: {},
      summary: "",
    },
    usage: zeroUsage,
    timings: { queueMs: 0, ttftMs: 0, totalMs, busyMs: 0 },
    status,
    errorCode: code,
  };
}
