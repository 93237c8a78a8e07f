import { type Logger, pino } from "pino";
import type { OpenAICompatibleBackend } from "../backends/openai-compatible.ts";
import type { GatewaySettings, RouteConfig } from "../config/gateway-config.ts";
import type { Jurisdiction, ModelBackend, ModelDescriptor, ModelRegistry, Pricing } from "../core/backend.ts";
import type { ChatRequest, ChatStreamPart, Usage } from "../core/chat.ts";
import type { ChatService, ChatServiceContext, ChatSession, PolicySummary } from "../core/chat-service.ts";
import { BastionError, isBastionError } from "../core/errors.ts";
import { type CompletedRequest, type RequestObserver, requestIdentity } from "../core/request-record.ts";
import {
  createPseudonymiser,
  egressFor,
  PolicyDeniedError,
  policyDenied,
  summarise,
} from "../policy/index.ts";
import type { Egress, Inspection, PolicyEngine } from "../policy/types.ts";
import type { LocalPlace, ResolvedRemoteBackend } from "./backend-configs.ts";
import { type BackendGuard, type BackendHealth, createBackendGuard } from "./backend-guard.ts";
import { type Candidate, createRouter, orderCandidates, type RemoteEntry } from "./router.ts";

export interface GatewayOptions {
  /** The engine's models. */
  local: ModelRegistry;
  localPlace: LocalPlace;
  /** Remote backends, built from `backends` (see `createRemoteBackends`). */
  remote: ReadonlyArray<{
    config: ResolvedRemoteBackend;
    backend: OpenAICompatibleBackend;
    problem?: string;
  }>;
  routes: Readonly<Record<string, RouteConfig>>;
  settings: GatewaySettings;
  policy: PolicyEngine;
  /** Told about every request once it ends (metering, limits, audit). */
  observers?: readonly RequestObserver[];
  logger?: Logger;
  /** For the weighted strategy; tests pass a fixed one. */
  random?: () => number;
}

/** One backend as `bastion backends` and `GET /admin/v1/backends` show it. */
export interface BackendStatus {
  id: string;
  kind: "local" | "remote";
  title: string;
  baseUrl?: string;
  /** The variable the key is read from (never the key). */
  apiKeyEnv?: string;
  jurisdiction: Jurisdiction;
  pricing: Pricing;
  /** Local model ids, or the model names that routes use on this backend. */
  models: string[];
  health: BackendHealth & { inFlight: number; problem?: string };
}

/** The request pipeline: a `ChatService`, the registry `/v1/models` lists (local models and routes), and backend status. */
export interface Gateway extends ChatService {
  registry: ModelRegistry;
  backends(): Promise<BackendStatus[]>;
  dispose(): Promise<void>;
}

type Choice = Candidate & { egress: Egress };

/** A candidate's answer once it started: its first part in hand, the rest still to read. */
interface Opened {
  /** A buffered answer is replayed from memory, so its iterator may be a plain one. */
  iterator: AsyncIterator<ChatStreamPart> | Iterator<ChatStreamPart>;
  first: IteratorResult<ChatStreamPart>;
  /** Stops forwarding the client's abort to the backend call. */
  unlink: () => void;
  /** When the first text, reasoning or tool part arrived (set for a buffered answer). */
  firstPartAt?: number;
}

const zeroUsage: Usage = { promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedPromptTokens: 0 };

/** Errors after which the next candidate may succeed; a request the backend refused would fail everywhere. */
function canFallBack(error: unknown): boolean {
  if (!isBastionError(error)) return true;
  return ["upstream_error", "queue_full", "not_ready", "model_too_large", "internal_error"].includes(
    error.code,
  );
}

function codeOf(error: unknown): string {
  return isBastionError(error) ? error.code : "internal_error";
}

/**
 * Builds the gateway: resolve the public name (route, local model, or `backend/model`) -> policy
 * inspection (fail closed) -> candidates filtered by egress -> ordered by strategy -> pseudonymised
 * where egress requires -> backend call under retry, timeout and circuit breaker, falling back
 * before the first part (for a buffered, non-stream request: before the end of the answer) ->
 * placeholders restored in the streamed parts -> evidence -> a `CompletedRequest` for each
 * observer. Detected values are never logged.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const logger = options.logger ?? pino({ level: "silent" });
  const observers = options.observers ?? [];
  const guards = new Map<string, BackendGuard>();
  const remoteEntries = new Map<string, RemoteEntry>();
  const inFlight = new Map<string, number>();
  for (const { config, backend } of options.remote) {
    remoteEntries.set(config.id, backend);
    guards.set(
      config.id,
      createBackendGuard({
        id: config.id,
        maxAttempts: options.settings.maxAttempts,
        initialBackoffMs: options.settings.initialBackoffMs,
        maxBackoffMs: options.settings.maxBackoffMs,
        breakerFailures: options.settings.breakerFailures,
        breakerOpenMs: options.settings.breakerOpenMs,
        firstByteMs: config.timeouts.firstByteMs,
        healthIntervalMs: options.settings.healthIntervalSeconds * 1000,
        probe: (signal) => backend.probe(signal),
        onStateChange: (state) =>
          logger.warn({ backend: config.id, circuit: state }, "backend circuit changed"),
      }),
    );
  }
  const router = createRouter({
    routes: options.routes,
    local: options.local,
    localPlace: options.localPlace,
    remote: remoteEntries,
  });
  const load = (candidate: Candidate) => inFlight.get(candidate.backendId) ?? 0;

  /**
   * Tells every observer; resolves once they are done (never rejects). A refusal awaits it before
   * throwing, so that its usage row and audit record exist before the error response leaves.
   */
  function report(record: CompletedRequest): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const observer of observers) {
      try {
        const done = observer.onCompleted(record);
        if (done instanceof Promise)
          pending.push(
            done.catch((error: unknown) => logger.error({ err: error }, "request observer failed")),
          );
      } catch (error) {
        logger.error({ err: error }, "request observer failed");
      }
    }
    return pending.length === 0 ? Promise.resolve() : Promise.all(pending).then(() => {});
  }

  function blockedRecord(
    request: ChatRequest,
    context: ChatServiceContext,
    startedAt: Date,
    t0: number,
    policy: PolicySummary,
    status: CompletedRequest["status"],
    errorCode: string,
    where?: Candidate,
  ): CompletedRequest {
    const totalMs = performance.now() - t0;
    return {
      ...requestIdentity(context, request.model, startedAt),
      model: where?.model ?? request.model,
      backend: where?.backendId ?? "none",
      backendKind: where?.kind ?? "local",
      jurisdiction: where?.jurisdiction ?? options.localPlace.jurisdiction,
      policy,
      usage: { ...zeroUsage },
      timings: { queueMs: 0, ttftMs: totalMs, totalMs, busyMs: 0 },
      status,
      errorCode,
    };
  }

  /**
   * Reads a started answer to its end and returns it as a replay. A failure on the way is thrown
   * as it would be before the first part: nothing of this answer has reached the client.
   */
  async function readWhole(choice: Choice, opened: Opened): Promise<Opened> {
    const parts: ChatStreamPart[] = [];
    let result = opened.first;
    let firstPartAt = !result.done && result.value.type !== "finish" ? performance.now() : undefined;
    inFlight.set(choice.backendId, (inFlight.get(choice.backendId) ?? 0) + 1);
    try {
      while (!result.done) {
        parts.push(result.value);
        result = await opened.iterator.next();
        if (firstPartAt === undefined && !result.done && result.value.type !== "finish")
          firstPartAt = performance.now();
      }
    } catch (error) {
      opened.unlink();
      throw error;
    } finally {
      inFlight.set(choice.backendId, (inFlight.get(choice.backendId) ?? 1) - 1);
    }
    const replay = parts[Symbol.iterator]();
    return {
      iterator: replay,
      first: replay.next(),
      unlink: opened.unlink,
      ...(firstPartAt === undefined ? {} : { firstPartAt }),
    };
  }

  /**
   * Starts the candidate's stream and waits for its first part, under the backend's guard. A
   * buffered request's answer is read to its end under the same guard (retry and breaker).
   */
  async function openCandidate(
    choice: Choice,
    request: ChatRequest,
    signal: AbortSignal,
    buffered: boolean,
  ): Promise<Opened> {
    const run = async (attemptSignal: AbortSignal): Promise<Opened> => {
      const controller = new AbortController();
      const onClient = () => controller.abort(signal.reason);
      const onAttempt = () => controller.abort(attemptSignal.reason);
      signal.addEventListener("abort", onClient, { once: true });
      attemptSignal.addEventListener("abort", onAttempt, { once: true });
      const unlink = () => signal.removeEventListener("abort", onClient);
      const iterator = choice.target.chat(request, { signal: controller.signal })[Symbol.asyncIterator]();
      try {
        const first = await iterator.next();
        return { iterator, first, unlink };
      } catch (error) {
        controller.abort();
        unlink();
        throw error;
      } finally {
        // Once the stream opened in time, the attempt's timeout no longer applies to it.
        attemptSignal.removeEventListener("abort", onAttempt);
      }
    };
    const guard = guards.get(choice.backendId);
    if (signal.aborted) throw new BastionError("cancelled", "The request was cancelled.");
    const complete = buffered ? (opened: Opened) => readWhole(choice, opened) : undefined;
    if (guard !== undefined) return guard.execute(run, signal, complete);
    const opened = await run(new AbortController().signal);
    return complete === undefined ? opened : complete(opened);
  }

  function describeFor(name: string, route: string | undefined, choice: Choice): ModelDescriptor {
    const descriptor = choice.target.describe();
    if (route !== undefined) return { ...descriptor, id: route, aliases: [] };
    return choice.kind === "remote" ? { ...descriptor, id: name } : descriptor;
  }

  async function open(request: ChatRequest, context: ChatServiceContext): Promise<ChatSession> {
    const startedAt = new Date();
    const t0 = performance.now();
    // An assistant's own policy (the context's) wins over its caller's.
    const policyName = context.policy ?? context.principal?.policy;
    // A known name resolves without a promise; `resolve` builds the not-found error.
    const { route, strategy, candidates } =
      router.lookup(request.model) ?? (await router.resolve(request.model));

    let inspection: Inspection;
    try {
      inspection = options.policy.inspect(request, {
        ...(policyName === undefined ? {} : { policy: policyName }),
        ...(context.declaredDataClass === undefined ? {} : { declaredDataClass: context.declaredDataClass }),
      });
    } catch (error) {
      // A request the policy refuses to read (a bad x-bastion-data-class) is the client's to fix.
      if (isBastionError(error) && error.code === "invalid_request") throw error;
      // Fail closed: a policy that cannot decide lets nothing through.
      const denied =
        error instanceof PolicyDeniedError
          ? error
          : new PolicyDeniedError(
              "policy_error",
              "The policy could not evaluate this request, so nothing was sent",
              {
                cause: error,
              },
            );
      logger.warn({ reason: denied.reason }, "request denied by policy");
      const summary: PolicySummary = {
        policy: policyName ?? options.policy.defaultPolicy,
        dataClass: "unknown",
        action: "block",
        detections: {},
        summary: `denied (${denied.reason})`,
      };
      await report(blockedRecord(request, context, startedAt, t0, summary, "blocked", denied.reason));
      throw denied;
    }

    const allowed: Choice[] = [];
    for (const candidate of candidates) {
      const egress = egressFor(inspection, { id: candidate.backendId, jurisdiction: candidate.jurisdiction });
      if (egress !== "denied") allowed.push({ ...candidate, egress });
    }
    if (allowed.length === 0) {
      const denied = policyDenied(inspection, request.model);
      logger.info(
        { reason: denied.reason, policy: inspection.policy, counts: inspection.counts },
        "request blocked by policy",
      );
      await report(
        blockedRecord(
          request,
          context,
          startedAt,
          t0,
          summarise(inspection, "denied"),
          "blocked",
          denied.reason,
        ),
      );
      throw denied;
    }
    const ordered = orderCandidates(allowed, strategy, load, options.random);

    let pseudonymiser: ReturnType<typeof createPseudonymiser> | undefined;
    let masked: ChatRequest | undefined;
    const outbound = (choice: Choice): ChatRequest => {
      if (choice.egress !== "pseudonymised") return { ...request, model: choice.model };
      try {
        pseudonymiser ??= createPseudonymiser(inspection);
        masked ??= pseudonymiser.mask(request);
      } catch (error) {
        // Fail closed: what could not be masked is not sent, to this or any other candidate.
        throw new PolicyDeniedError(
          "policy_error",
          "The request could not be pseudonymised, so nothing was sent",
          {
            cause: error,
          },
        );
      }
      return { ...masked, model: choice.model };
    };

    let lastError: unknown;
    for (const choice of ordered) {
      let opened: Opened;
      try {
        opened = await openCandidate(choice, outbound(choice), context.signal, context.buffered === true);
      } catch (error) {
        lastError = error;
        if (context.signal.aborted || !canFallBack(error)) break;
        logger.warn(
          { backend: choice.backendId, model: choice.model, code: codeOf(error) },
          "backend failed; trying the next candidate",
        );
        continue;
      }
      const policySummary = summarise(inspection, choice.egress);
      const restorer = choice.egress === "pseudonymised" ? pseudonymiser : undefined;
      return {
        model: describeFor(request.model, route, choice),
        evidence: () => ({
          backend: choice.kind === "local" ? choice.model : `${choice.backendId}/${choice.model}`,
          jurisdiction: choice.jurisdiction,
          policy: policySummary,
        }),
        parts: stream(choice, opened, restorer, { request, context, startedAt, t0, policySummary }),
      };
    }

    const last = ordered.at(-1)!;
    const code = codeOf(lastError);
    await report(
      blockedRecord(
        request,
        context,
        startedAt,
        t0,
        summarise(inspection, last.egress),
        context.signal.aborted ? "cancelled" : "error",
        code,
        last,
      ),
    );
    if (isBastionError(lastError) && !canFallBack(lastError)) throw lastError;
    const detail = lastError instanceof Error ? lastError.message : String(lastError);
    throw new BastionError(
      "upstream_error",
      ordered.length === 1
        ? detail
        : `All ${ordered.length} backends for '${request.model}' failed; the last said: ${detail}`,
      { isRetryable: true, cause: lastError },
    );
  }

  async function* stream(
    choice: Choice,
    opened: Opened,
    pseudonymiser: ReturnType<typeof createPseudonymiser> | undefined,
    meta: {
      request: ChatRequest;
      context: ChatServiceContext;
      startedAt: Date;
      t0: number;
      policySummary: PolicySummary;
    },
  ): AsyncGenerator<ChatStreamPart> {
    const { iterator, unlink } = opened;
    let result = opened.first;
    let status: CompletedRequest["status"] = "ok";
    let errorCode: string | undefined;
    let usage = { ...zeroUsage };
    let queueMs = 0;
    let busyMs: number | undefined;
    let ttftMs = opened.firstPartAt === undefined ? undefined : opened.firstPartAt - meta.t0;
    let finished = false;
    const text = pseudonymiser?.createRestorer();
    const reasoning = pseudonymiser?.createRestorer();
    inFlight.set(choice.backendId, (inFlight.get(choice.backendId) ?? 0) + 1);

    /** Held-back tails of the restorers (an array, not a generator: see the loop below). */
    function flush(): ChatStreamPart[] {
      const out: ChatStreamPart[] = [];
      const reasoningTail = reasoning?.flush() ?? "";
      if (reasoningTail !== "") out.push({ type: "reasoning-delta", text: reasoningTail });
      const textTail = text?.flush() ?? "";
      if (textTail !== "") out.push({ type: "text-delta", text: textTail });
      return out;
    }

    try {
      while (!result.done) {
        const part = result.value;
        if (ttftMs === undefined && part.type !== "finish") ttftMs = performance.now() - meta.t0;
        if (part.type === "text-delta") {
          const restored = text === undefined ? part.text : text.push(part.text);
          if (restored !== "") yield { type: "text-delta", text: restored };
        } else if (part.type === "reasoning-delta") {
          const restored = reasoning === undefined ? part.text : reasoning.push(part.text);
          if (restored !== "") yield { type: "reasoning-delta", text: restored };
        } else if (part.type === "tool-call-delta") {
          // Placeholders may straddle argument deltas: when pseudonymising, only the whole call
          // (restored) goes out, which consumers accept in place of the deltas.
          if (pseudonymiser === undefined) yield part;
        } else if (part.type === "tool-call") {
          for (const tail of flush()) yield tail;
          yield pseudonymiser === undefined
            ? part
            : {
                ...part,
                call: { ...part.call, arguments: pseudonymiser.restoreArguments(part.call.arguments) },
              };
        } else {
          for (const tail of flush()) yield tail;
          finished = true;
          usage = part.usage;
          if (part.timings !== undefined) {
            queueMs = part.timings.queueMs;
            busyMs = part.timings.promptMs + part.timings.generationMs;
          }
          if (part.finishReason === "cancelled") status = "cancelled";
          yield part;
        }
        // A buffered answer's replay hands its parts over at once: no promise turn per part.
        const next = iterator.next();
        result = next instanceof Promise ? await next : next;
      }
    } catch (error) {
      status = meta.context.signal.aborted ? "cancelled" : "error";
      errorCode = codeOf(error);
      guards.get(choice.backendId)?.recordFailure(error);
      logger.warn({ backend: choice.backendId, code: errorCode }, "stream failed after its first part");
      throw error;
    } finally {
      unlink();
      inFlight.set(choice.backendId, (inFlight.get(choice.backendId) ?? 1) - 1);
      if (!result.done) await Promise.resolve(iterator.return?.()).catch(() => {});
      if (!finished && status === "ok") status = "cancelled";
      const totalMs = performance.now() - meta.t0;
      void report({
        requestId: meta.context.requestId,
        startedAt: meta.startedAt,
        endpoint: meta.context.endpoint,
        ...(meta.context.principal === undefined ? {} : { principal: meta.context.principal }),
        requestedModel: meta.request.model,
        model: choice.model,
        backend: choice.backendId,
        backendKind: choice.kind,
        jurisdiction: choice.jurisdiction,
        policy: meta.policySummary,
        usage,
        timings: { queueMs, ttftMs: ttftMs ?? totalMs, totalMs, busyMs: busyMs ?? totalMs },
        status,
        ...(errorCode === undefined ? {} : { errorCode }),
      });
    }
  }

  // Routes appear in `/v1/models` and resolve for embeddings, always through the policy.
  const routeBackends = new Map<string, ModelBackend>();
  /**
   * A route, or a direct `backend/model`, as a registry entry: its price and jurisdiction are the
   * first candidate's (metering prices remote answers by the evidence's `backend/model`), and its
   * `chat` and `embed` go through the policy like any request.
   */
  function routeBackend(name: string): ModelBackend | undefined {
    const resolved = router.lookup(name);
    if (resolved === undefined) return undefined;
    if (resolved.route === undefined && resolved.candidates[0]?.kind !== "remote") return undefined;
    const first = resolved.candidates[0]!;
    const backend: ModelBackend = {
      id: name,
      jurisdiction: first.jurisdiction,
      pricing: first.pricing,
      describe: () => ({ ...first.target.describe(), id: name, aliases: [], ownedBy: "bastion" }),
      chat: (request, call) => ({
        async *[Symbol.asyncIterator]() {
          const session = await open(
            { ...request, model: name },
            { signal: call.signal, requestId: crypto.randomUUID(), endpoint: "internal" },
          );
          yield* session.parts;
        },
      }),
      async embed(inputs, call) {
        // Embeddings cannot be pseudonymised (the vector is of the text): raw egress only.
        const inspection = options.policy.inspectText(inputs.join("\n"));
        let lastError: unknown;
        for (const candidate of resolved.candidates) {
          if (candidate.target.embed === undefined) continue;
          if (
            egressFor(inspection, { id: candidate.backendId, jurisdiction: candidate.jurisdiction }) !== "raw"
          )
            continue;
          try {
            return await candidate.target.embed(inputs, call);
          } catch (error) {
            lastError = error;
            if (!canFallBack(error)) throw error;
          }
        }
        if (lastError !== undefined) throw lastError;
        throw policyDenied(inspection, name);
      },
    };
    return backend;
  }
  for (const name of router.routeNames()) {
    const backend = routeBackend(name);
    if (backend !== undefined) routeBackends.set(name, backend);
  }

  const registry: ModelRegistry = {
    async list() {
      const local = await options.local.list();
      const taken = new Set(local.flatMap((model) => [model.id, ...model.aliases]));
      const routes = [...routeBackends.values()]
        .filter((backend) => !taken.has(backend.id))
        .map((backend) => backend.describe());
      return [...local, ...routes];
    },
    get: (name) => routeBackends.get(name) ?? options.local.get(name) ?? routeBackend(name),
    readiness() {
      const local = options.local.readiness();
      if (local.ready || routeBackends.size === 0) return local;
      return { ready: true };
    },
  };

  return {
    open,
    registry,
    async backends() {
      const localModels = (await options.local.list()).map((model) => model.id);
      const remoteModels = new Map<string, Set<string>>();
      for (const route of Object.values(options.routes)) {
        for (const raw of route.candidates) {
          const target = typeof raw === "string" ? raw : raw.target;
          const [backendId, ...rest] = target.split("/");
          const set = remoteModels.get(backendId!) ?? new Set<string>();
          set.add(rest.join("/"));
          remoteModels.set(backendId!, set);
        }
      }
      const statuses: BackendStatus[] = [
        {
          id: "local",
          kind: "local",
          title: "This server's engine (llama.cpp)",
          jurisdiction: options.localPlace.jurisdiction,
          pricing: options.localPlace.pricing,
          models: localModels,
          health: {
            state: "closed",
            healthy: options.local.readiness().ready,
            inFlight: inFlight.get("local") ?? 0,
          },
        },
      ];
      for (const { config, backend, problem } of options.remote) {
        statuses.push({
          id: config.id,
          kind: "remote",
          title: config.title,
          baseUrl: config.baseUrl,
          ...(config.apiKeyEnv === undefined ? {} : { apiKeyEnv: config.apiKeyEnv }),
          jurisdiction: config.jurisdiction,
          pricing: config.pricing,
          models: [...(remoteModels.get(config.id) ?? [])],
          health: {
            ...guards.get(config.id)!.health(),
            inFlight: backend.inFlight(),
            ...(problem === undefined ? {} : { problem }),
          },
        });
      }
      return statuses;
    },
    async dispose() {
      for (const guard of guards.values()) guard.dispose();
      await Promise.all(options.remote.map(({ backend }) => backend.dispose()));
    },
  };
}
