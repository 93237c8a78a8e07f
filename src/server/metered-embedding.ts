import type { Context } from "hono";
import { type CostModel, createPriceTableCostModel } from "../auth/cost-model.ts";
import { type Auth, authContextOf } from "../auth/index.ts";
import type { EmbeddingResult, ModelBackend, ModelRegistry } from "../core/backend.ts";
import { BastionError, isBastionError } from "../core/errors.ts";
import { type CompletedRequest, requestIdentity } from "../core/request-record.ts";
import type { RequestRecorder } from "../metering/request-recorder.ts";
import { createAbortLink } from "./abort-link.ts";
import type { ServerEnv } from "./server-env.ts";

/**
 * What an embedding call is accounted with: the budgets of the key and tenant (when auth is on)
 * and the recorder that writes its usage row and audit record (when metering is on).
 */
export interface EmbeddingAccounting {
  budgets?: Pick<Auth, "budgets" | "settings">;
  recorder?: RequestRecorder;
  costModel: CostModel;
}

/**
 * The accounting of the app's embedding routes (`/v1/embeddings`, Ollama's `/api/embed` and
 * `/api/embeddings`). Prices with metering's meter when there is one (the self-hosted cost model),
 * else with the backends' price tables.
 */
export function createEmbeddingAccounting(options: {
  auth?: Auth;
  recorder?: RequestRecorder;
  costModel?: CostModel;
  registry?: ModelRegistry;
}): EmbeddingAccounting {
  return {
    ...(options.auth === undefined ? {} : { budgets: options.auth }),
    ...(options.recorder === undefined ? {} : { recorder: options.recorder }),
    costModel: options.costModel ?? createPriceTableCostModel(options.registry),
  };
}

const noPolicy = { policy: "none", dataClass: "unclassified", action: "allow", detections: {}, summary: "" };

/**
 * Runs `backend.embed` as a chat request is run: an upper-bound cost is reserved on the key's and
 * the tenant's budgets first (a hard budget refuses with 429 before any work), then the usage row
 * and audit record (tokens, cost, energy) are committed before the vectors are returned, and the
 * reservation is settled at the metered cost. A local model is charged the wall time of the call
 * (embeddings report no engine timings). A failed or cancelled call is recorded too, and charged
 * what it used. Without accounting (unit tests of the wire layer) it only embeds.
 */
export async function embedMetered(
  c: Context<ServerEnv>,
  accounting: EmbeddingAccounting | undefined,
  call: { backend: ModelBackend; requestedModel: string; inputs: string[] },
): Promise<EmbeddingResult> {
  const { backend, inputs } = call;
  const embed = backend.embed?.bind(backend);
  if (embed === undefined)
    throw new BastionError("unsupported_parameter", "This model does not support embeddings.", {
      param: "model",
    });
  const startedAt = new Date();
  const t0 = performance.now();
  const principal = c.get("principal");
  const backendKind = backend.jurisdiction.zone === "local" ? "local" : "remote";
  let reservation: Awaited<ReturnType<Auth["budgets"]["reserve"]>> | undefined;
  let estimateEur = 0;
  const credential = authContextOf(c);
  if (accounting?.budgets !== undefined && principal !== undefined && credential !== undefined) {
    const { limits } = accounting.budgets.settings;
    const characters = inputs.reduce((sum, input) => sum + input.length, 0);
    estimateEur = accounting.costModel.estimateCostEur({
      backend: { id: backend.id, pricing: backend.pricing, jurisdiction: backend.jurisdiction },
      // About 3 characters a token: generous, as for chats' estimates.
      inputTokens: Math.ceil(characters / 3),
      maxOutputTokens: 0,
    });
    reservation = await accounting.budgets.budgets.reserve(
      [
        ...(principal.keyId === undefined
          ? []
          : [
              {
                scope: `key:${principal.keyId}`,
                label: "this API key",
                limits: { ...limits.key, ...credential.keyLimits },
              },
            ]),
        {
          scope: `tenant:${principal.tenantId}`,
          label: `tenant '${principal.tenantId}'`,
          limits: { ...limits.tenant, ...credential.tenantLimits },
        },
      ],
      estimateEur,
    );
    if (reservation.warning !== undefined) c.header("x-bastion-budget-warning", reservation.warning);
  }

  let result: EmbeddingResult | undefined;
  let failure: unknown;
  const link = createAbortLink(c.req.raw.signal);
  try {
    result = await embed(inputs, { signal: link.signal });
  } catch (error) {
    failure = error;
  } finally {
    link.dispose();
  }
  const totalMs = performance.now() - t0;
  const status: CompletedRequest["status"] =
    result !== undefined ? "ok" : c.req.raw.signal.aborted ? "cancelled" : "error";
  const record: CompletedRequest = {
    ...requestIdentity(
      {
        requestId: c.get("requestId"),
        endpoint: c.req.path,
        ...(principal === undefined ? {} : { principal }),
      },
      call.requestedModel,
      startedAt,
    ),
    model: backend.id,
    backend: backend.id,
    backendKind,
    jurisdiction: backend.jurisdiction,
    policy: noPolicy,
    usage: {
      promptTokens: result?.promptTokens ?? 0,
      completionTokens: 0,
      reasoningTokens: 0,
      cachedPromptTokens: 0,
    },
    timings: { queueMs: 0, ttftMs: totalMs, totalMs, busyMs: totalMs },
    status,
    ...(status === "ok" ? {} : { errorCode: isBastionError(failure) ? failure.code : "internal_error" }),
  };

  let recordingFailed: unknown;
  let costEur: number;
  try {
    costEur =
      accounting?.recorder === undefined
        ? (accounting?.costModel.price(record).costEur ?? 0)
        : (await accounting.recorder.record(record)).costEur;
  } catch (error) {
    recordingFailed = error;
    costEur = estimateEur;
  }
  await reservation?.settle(costEur);
  if (failure !== undefined) throw failure;
  if (recordingFailed !== undefined) {
    c.get("logger")?.error({ err: recordingFailed }, "could not record an embedding request");
    throw new BastionError(
      "internal_error",
      "The embeddings are withheld because their audit record could not be written; retry shortly.",
      { cause: recordingFailed },
    );
  }
  return result!;
}
