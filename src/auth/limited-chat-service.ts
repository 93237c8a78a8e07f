import type { ModelRegistry } from "../core/backend.ts";
import type { ChatRequest, ChatStreamPart, GenerationTimings, Usage } from "../core/chat.ts";
import type { ChatService, ChatServiceContext, ChatSession } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import type { CompletedRequest, RequestObserver } from "../core/request-record.ts";
import type { BudgetReservation, Budgets } from "./budgets.ts";
import type { CostModel } from "./cost-model.ts";
import type { LimitScopes, RateLimits } from "./rate-limits.ts";

/** What the limits middleware learnt about a request, handed to the chat service by request id. */
export interface PendingLimits {
  scopes: LimitScopes;
  /** Adds a soft-budget warning to the response headers. */
  warn(message: string): void;
}

export interface LimitsSettler extends RequestObserver {
  track(
    requestId: string,
    entry: { reservation: BudgetReservation; scopes: LimitScopes; estimateEur: number },
  ): void;
}

/**
 * Settles budget reservations and counts tokens/min when a request completes. It is a
 * `RequestObserver`, so the gateway may report to it directly; a request is settled once,
 * whichever reports first.
 */
export function createLimitsSettler(options: {
  rateLimits: RateLimits;
  costModel: CostModel;
}): LimitsSettler {
  const open = new Map<
    string,
    { reservation: BudgetReservation; scopes: LimitScopes; estimateEur: number }
  >();
  return {
    track: (requestId, entry) => void open.set(requestId, entry),
    async onCompleted(record) {
      const entry = open.get(record.requestId);
      if (entry === undefined) return;
      open.delete(record.requestId);
      const tokens = record.usage.promptTokens + record.usage.completionTokens;
      // Without a finish part the usage is unknown: charge the reservation rather than nothing.
      const cost =
        record.status === "ok" || tokens > 0 ? options.costModel.price(record).costEur : entry.estimateEur;
      await entry.reservation.settle(cost);
      await options.rateLimits.recordTokens(entry.scopes, tokens);
    },
  };
}

/** Whether `name` (a requested model or the backend id behind it) is allowed by a scope list. */
export function allowedByScope(list: readonly string[] | undefined, ...names: string[]): boolean {
  if (list === undefined) return true;
  return list.some((entry) =>
    names.some((name) => (entry.endsWith("*") ? name.startsWith(entry.slice(0, -1)) : entry === name)),
  );
}

/**
 * Wraps the chat service with per-key model scopes and budgets: reserves an upper-bound cost
 * estimate before the request runs (429 when a hard budget would be passed), and settles it with
 * the real cost when the stream ends. Every dialect's chat goes through here.
 */
export function createLimitedChatService(
  inner: ChatService,
  options: {
    registry?: ModelRegistry;
    budgets: Budgets;
    costModel: CostModel;
    settler: LimitsSettler;
    pending: Map<string, PendingLimits>;
    assumedOutputTokens: number;
  },
): ChatService {
  return {
    async open(request, context) {
      const principal = context.principal;
      if (principal === undefined) return inner.open(request, context);
      const backend = options.registry?.get(request.model);
      if (!allowedByScope(principal.models, request.model, ...(backend === undefined ? [] : [backend.id]))) {
        throw new BastionError(
          "model_not_found",
          `The model '${request.model.slice(0, 100)}' does not exist or you do not have access to it.`,
          { param: "model" },
        );
      }
      const pending = options.pending.get(context.requestId);
      if (pending === undefined) return inner.open(request, context);
      const estimateEur = options.costModel.estimateCostEur({
        ...(backend === undefined
          ? {}
          : { backend: { id: backend.id, pricing: backend.pricing, jurisdiction: backend.jurisdiction } }),
        inputTokens: estimateInputTokens(request),
        maxOutputTokens: request.maxTokens ?? options.assumedOutputTokens,
      });
      const { scopes } = pending;
      const reservation = await options.budgets.reserve(
        [
          ...(scopes.keyId === undefined
            ? []
            : [{ scope: `key:${scopes.keyId}`, label: "this API key", limits: scopes.key }]),
          { scope: `tenant:${scopes.tenantId}`, label: `tenant '${scopes.tenantId}'`, limits: scopes.tenant },
        ],
        estimateEur,
      );
      if (reservation.warning !== undefined) pending.warn(reservation.warning);
      options.settler.track(context.requestId, { reservation, scopes, estimateEur });
      const started = new Date();
      let session: ChatSession;
      try {
        session = await inner.open(request, context);
      } catch (error) {
        await reservation.settle(0);
        throw error;
      }
      return { ...session, parts: settleOnEnd(session, request, context, started, options.settler) };
    },
  };
}

async function* settleOnEnd(
  session: ChatSession,
  request: ChatRequest,
  context: ChatServiceContext,
  started: Date,
  settler: LimitsSettler,
): AsyncIterable<ChatStreamPart> {
  let usage: Usage = { promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedPromptTokens: 0 };
  let timings: GenerationTimings | undefined;
  let status: CompletedRequest["status"] = "cancelled";
  try {
    for await (const part of session.parts) {
      if (part.type === "finish") {
        usage = part.usage;
        timings = part.timings;
        status = "ok";
      }
      yield part;
    }
  } catch (error) {
    status = "error";
    throw error;
  } finally {
    const evidence = session.evidence();
    const totalMs = Date.now() - started.getTime();
    const record: CompletedRequest = {
      requestId: context.requestId,
      startedAt: started,
      endpoint: context.endpoint,
      ...(context.principal === undefined ? {} : { principal: context.principal }),
      requestedModel: request.model,
      model: session.model.id,
      backend: evidence.backend,
      backendKind: evidence.jurisdiction.zone === "local" ? "local" : "remote",
      jurisdiction: evidence.jurisdiction,
      policy: evidence.policy,
      usage,
      timings: {
        queueMs: timings?.queueMs ?? 0,
        ttftMs: timings === undefined ? totalMs : timings.queueMs + timings.promptMs,
        totalMs,
        busyMs: timings === undefined ? totalMs : timings.promptMs + timings.generationMs,
      },
      status,
    };
    await settler.onCompleted(record);
  }
}

/** A generous token count from the text size (about 3 characters a token), for the budget estimate. */
function estimateInputTokens(request: ChatRequest): number {
  let characters = JSON.stringify(request.messages).length;
  if (request.tools !== undefined) characters += JSON.stringify(request.tools).length;
  return Math.ceil(characters / 3);
}
