import type { Jurisdiction } from "./backend.ts";
import type { Usage } from "./chat.ts";
import type { ChatServiceContext, PolicySummary } from "./chat-service.ts";
import type { Principal } from "./principal.ts";

/**
 * One finished request, as the gateway reports it to metering, limits and audit. Never holds
 * prompt or answer text, nor any detected value.
 */
export interface CompletedRequest {
  requestId: string;
  startedAt: Date;
  endpoint: string;
  principal?: Principal;
  /** Model name the client asked for, and the id that served it. */
  requestedModel: string;
  model: string;
  backend: string;
  /** "local" for the in-process engine, else "remote". */
  backendKind: "local" | "remote";
  jurisdiction: Jurisdiction;
  policy: PolicySummary;
  usage: Usage;
  timings: {
    queueMs: number;
    /** Time to first token (reasoning or text), from admission. */
    ttftMs: number;
    totalMs: number;
    /** Time the backend was busy on this request (prompt + generation), for the self-hosted cost model. */
    busyMs: number;
  };
  /**
   * Average number of requests the backend served at once while this one ran (itself included),
   * from metering's `createOccupancyTracker`; the self-hosted cost model divides `busyMs` by it. Absent = 1.
   */
  concurrency?: number;
  status: "ok" | "error" | "cancelled" | "blocked";
  errorCode?: string;
}

/** Told about every request once it ends; metering, limits and audit implement it. */
export interface RequestObserver {
  onCompleted(record: CompletedRequest): void | Promise<void>;
}

/**
 * The part of a request's record known when it arrives: its id, when, where, who asked (when auth
 * is on) and for which model. Every layer that reports a record starts from it.
 */
export function requestIdentity(
  context: Pick<ChatServiceContext, "requestId" | "endpoint" | "principal">,
  requestedModel: string,
  startedAt: Date,
): Pick<CompletedRequest, "requestId" | "startedAt" | "endpoint" | "principal" | "requestedModel"> {
  return {
    requestId: context.requestId,
    startedAt,
    endpoint: context.endpoint,
    ...(context.principal === undefined ? {} : { principal: context.principal }),
    requestedModel,
  };
}
