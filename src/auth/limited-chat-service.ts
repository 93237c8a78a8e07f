import type { ModelRegistry } from "../core/backend.ts";
import type { ChatRequest, ChatStreamPart, GenerationTimings, Usage } from "../core/chat.ts";
import type { ChatService, ChatServiceContext, ChatSession } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import type { Principal } from "../core/principal.ts";
import { type CompletedRequest, type RequestObserver, requestIdentity } from "../core/request-record.ts";
import type { BudgetReservation, Budgets } from "./budgets.ts";
import type { CostModel } from "./cost-model.ts";
import type { LimitScopes, RateLimits } from "./rate-limits.ts";

/**
 * What the limits middleware learnt about a request, handed to the chat service keyed by the
 * request's own principal object (fresh per request). Not by request id: a client chooses its
 * `X-Request-Id`, and two requests sharing one must not share (or skip) a budget reservation.
 */
export interface PendingLimits {
  scopes: LimitScopes;
  /** Adds a soft-budget warning to the response headers. */
  warn(message: string): void;
  /** Run once the response is over (its last byte sent, or the client gone). */
  afterResponse: Array<() => Promise<void>>;
  /**
   * Gives the request's concurrency slot back (idempotent) and resolves once the counters have it.
   * The chat service calls it when the model's answer has ended, before its last part is handed
   * on, so that a client that read the whole answer finds its slot free; the middleware calls it
   * again once the response is over (a cancelled or failed answer, a route without a chat). A
   * second chat opened later by the same request would run outside the slot (no route does).
   */
  releaseSlot(): Promise<void>;
}

export interface LimitsSettler extends RequestObserver {
  /**
   * Registers a chat's reservation under its request's own principal object (fresh per request);
   * returns its settle function (idempotent), which `onCompleted` also reaches through the record's
   * principal. Not by request id: a client chooses its `X-Request-Id`, and two requests in flight
   * with one id must each settle their own reservation.
   */
  track(entry: {
    reservation: BudgetReservation;
    scopes: LimitScopes;
    estimateEur: number;
    principal: Principal;
  }): Settle;
}

/** Settles a tracked request with its record (idempotent); `done` once a report has settled it. */
export interface Settle {
  (record: CompletedRequest): Promise<void>;
  readonly done: boolean;
  /**
   * Gives the reservation back unspent and forgets the chat (a chat opened but never read), so
   * that a later record of the same request cannot settle it; a no-op once settled.
   */
  giveBack(): Promise<void>;
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
  // The chats of a request still to settle, oldest first, by the request's principal object: a
  // record carries that object, and the entries go with the request when nobody settles them (a
  // chat opened but never read). One request opens its chats one after another (Responses API
  // tool turns), each recorded before the next opens, so the oldest open one is the record's.
  const open = new WeakMap<Principal, Settle[]>();
  return {
    track(entry) {
      // Whoever reports first settles; a later report waits for that same settlement.
      let settled: Promise<void> | undefined;
      const settle = ((record: CompletedRequest): Promise<void> => {
        if (settled !== undefined) return settled;
        (settle as { done: boolean }).done = true;
        settled = (async () => {
          forget();
          const tokens = record.usage.promptTokens + record.usage.completionTokens;
          // A cancelled request is charged what it used until the client left (its record counts
          // it). A failed one without a finish part has unknown usage: charge the reservation.
          const cost =
            record.status === "ok" || record.status === "cancelled" || tokens > 0
              ? options.costModel.price(record).costEur
              : entry.estimateEur;
          await entry.reservation.settle(cost);
          await options.rateLimits.recordTokens(entry.scopes, tokens);
        })();
        return settled;
      }) as Settle;
      const forget = () => {
        const held = open.get(entry.principal);
        if (held === undefined) return;
        const index = held.indexOf(settle);
        if (index >= 0) held.splice(index, 1);
        if (held.length === 0) open.delete(entry.principal);
      };
      // A plain property (a getter defined per request was a slow path of its own).
      (settle as { done: boolean }).done = false;
      settle.giveBack = () => {
        if (settled !== undefined) return settled;
        (settle as { done: boolean }).done = true;
        forget();
        settled = entry.reservation.settle(0);
        return settled;
      };
      const held = open.get(entry.principal);
      if (held === undefined) open.set(entry.principal, [settle]);
      else held.push(settle);
      return settle;
    },
    async onCompleted(record) {
      if (record.principal === undefined) return;
      const settle = open.get(record.principal)?.[0];
      if (settle !== undefined) await settle(record);
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
    pending: WeakMap<Principal, PendingLimits>;
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
      const pending = options.pending.get(principal);
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
      const started = new Date();
      let session: ChatSession;
      try {
        session = await inner.open(request, context);
      } catch (error) {
        await reservation.settle(0);
        throw error;
      }
      // Tracked only once open: a refusal the inner service reports (a policy block) costs nothing.
      const settle = options.settler.track({ reservation, scopes, estimateEur, principal });
      // A dialect that opened a chat but never read it (an error between open and the first part)
      // must not leave its reservation standing until the month ends.
      const state = { started: false };
      pending.afterResponse.push(async () => {
        if (state.started) return;
        state.started = true;
        await settle.giveBack();
      });
      return {
        ...session,
        parts: settleOnEnd(session, request, context, started, settle, state, pending.releaseSlot),
      };
    },
  };
}

/**
 * The session's parts, passed through: the slot is released when the finish part arrives (before
 * it is handed on) and the reservation settled when the parts end, fail or the reader stops. A
 * hand-written iterator rather than an async generator: it costs one promise per part, where a
 * generator around a `for await` costs several.
 */
function settleOnEnd(
  session: ChatSession,
  request: ChatRequest,
  context: ChatServiceContext,
  started: Date,
  settle: Settle,
  state: { started: boolean },
  releaseSlot: () => Promise<void>,
): AsyncIterable<ChatStreamPart> {
  let usage: Usage | undefined;
  let timings: GenerationTimings | undefined;
  let status: CompletedRequest["status"] = "cancelled";
  let output = 0;
  let reasoning = 0;
  let inner: AsyncIterator<ChatStreamPart> | undefined;
  let ended = false;
  const finished: IteratorReturnResult<undefined> = { done: true, value: undefined };
  /** An answer without a finish part (failed, or the client left): its error event or JSON comes after this. */
  const end = async () => {
    if (ended) return;
    ended = true;
    await releaseSlot();
    // With metering on, its record of this request usually settled it already.
    if (!settle.done) await settle(completedRecord());
  };
  const iterator: AsyncIterator<ChatStreamPart> = {
    async next() {
      if (inner === undefined) {
        // Opened but already given up (the response ended before the first read): nothing to read.
        if (state.started) return finished;
        state.started = true;
        inner = session.parts[Symbol.asyncIterator]();
      }
      if (ended) return finished;
      let result: IteratorResult<ChatStreamPart>;
      try {
        result = await inner.next();
      } catch (error) {
        status = context.signal.aborted ? "cancelled" : "error";
        await end();
        throw error;
      }
      if (result.done === true) {
        await end();
        return finished;
      }
      const part = result.value;
      if (part.type === "finish") {
        usage = part.usage;
        timings = part.timings;
        status = "ok";
        // The answer is produced: the slot is free before the client can see the answer end (the
        // finish part becomes the last chunk or line, and a JSON answer is sent after it).
        await releaseSlot();
      } else if (part.type === "reasoning-delta") reasoning++;
      else if (part.type === "text-delta" || part.type === "tool-call-delta") output++;
      return result;
    },
    async return() {
      // The reader stopped early (the client left, or an error on its side).
      if (inner !== undefined && !ended) {
        try {
          await inner.return?.();
        } finally {
          await end();
        }
      }
      return finished;
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };

  function completedRecord(): CompletedRequest {
    if (usage === undefined) {
      // No finish part: a cancelled request is charged the tokens streamed until the client left
      // (one a delta) and its prompt (about four characters a token), as metering counts them.
      const generated = output + reasoning;
      usage = {
        promptTokens: status === "cancelled" && generated > 0 ? Math.ceil(promptCharacters(request) / 4) : 0,
        completionTokens: status === "cancelled" ? generated : 0,
        reasoningTokens: status === "cancelled" ? reasoning : 0,
        cachedPromptTokens: 0,
      };
    }
    const evidence = session.evidence();
    const totalMs = Date.now() - started.getTime();
    const record: CompletedRequest = {
      ...requestIdentity(context, request.model, started),
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
    return record;
  }
}

function promptCharacters(request: ChatRequest): number {
  let characters = JSON.stringify(request.messages).length;
  if (request.tools !== undefined) characters += JSON.stringify(request.tools).length;
  return characters;
}

/** A generous token count from the text size (about 3 characters a token), for the budget estimate. */
function estimateInputTokens(request: ChatRequest): number {
  return Math.ceil(promptCharacters(request) / 3);
}
