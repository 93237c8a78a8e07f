import type { Principal } from "../core/principal.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import type { PricedRequest } from "../metering/meter.ts";
import type { Pseudonyms } from "./pseudonyms.ts";

/**
 * What an audit record says, as JSON. It names people only by keyed pseudonym and holds counts,
 * never prompt or answer text, never a detected value, never the policy's free-text summary.
 */
export interface AuditBody {
  type: "request" | "admin";
  tenant: string | null;
  actor: string | null;
  key: string | null;
  [field: string]: unknown;
}

/** An administrative action worth proving afterwards: key created or revoked, user erased, ... */
export interface AuditEvent {
  /** Dotted verb, e.g. `key.created`, `key.revoked`, `user.erased`, `tenant.updated`. */
  action: string;
  /** Who did it (absent: the system itself, e.g. retention). */
  principal?: Principal;
  /** Tenant the action applies to; the principal's when absent. */
  tenantId?: string;
  /** What it applied to; a `user` target is pseudonymised. */
  target?: { type: string; id: string };
  /** Non-personal details (counts, flags, names of policies); never secrets or personal data. */
  details?: Record<string, string | number | boolean | null>;
}

async function who(principal: Principal | undefined, pseudonyms: Pseudonyms) {
  return {
    tenant: principal?.tenantId ?? null,
    actor: principal?.userId === undefined ? null : await pseudonyms.user(principal.userId),
    key: principal?.keyId === undefined ? null : await pseudonyms.key(principal.keyId, principal.userId),
  };
}

const round = (value: number, digits = 9): number => Number(value.toFixed(digits));

/** The audit body of a finished request. */
export async function requestBody(
  record: CompletedRequest,
  priced: PricedRequest,
  pseudonyms: Pseudonyms,
): Promise<AuditBody> {
  return {
    type: "request",
    ...(await who(record.principal, pseudonyms)),
    request_id: record.requestId,
    started_at: record.startedAt.toISOString(),
    endpoint: record.endpoint,
    requested_model: record.requestedModel,
    model: record.model,
    backend: record.backend,
    backend_kind: record.backendKind,
    jurisdiction: {
      country: record.jurisdiction.country,
      zone: record.jurisdiction.zone,
      operator: record.jurisdiction.operator,
      extraterritorial: record.jurisdiction.extraterritorial === true,
    },
    policy: {
      name: record.policy.policy,
      data_class: record.policy.dataClass,
      action: record.policy.action,
      detections: record.policy.detections,
    },
    status: record.status,
    error_code: record.errorCode ?? null,
    tokens: {
      input: record.usage.promptTokens,
      output: record.usage.completionTokens,
      reasoning: record.usage.reasoningTokens,
      cached: record.usage.cachedPromptTokens,
    },
    latency_ms: {
      queue: Math.round(record.timings.queueMs),
      ttft: Math.round(record.timings.ttftMs),
      total: Math.round(record.timings.totalMs),
    },
    cost_eur: round(priced.costEur),
    energy_wh: round(priced.energyWh),
    co2e_g: round(priced.co2eG),
  };
}

/** The audit body of an administrative action. */
export async function eventBody(event: AuditEvent, pseudonyms: Pseudonyms): Promise<AuditBody> {
  const actor = await who(event.principal, pseudonyms);
  const target =
    event.target === undefined
      ? null
      : {
          type: event.target.type,
          id: event.target.type === "user" ? await pseudonyms.user(event.target.id) : event.target.id,
        };
  return {
    type: "admin",
    ...actor,
    tenant: event.tenantId ?? actor.tenant,
    action: event.action,
    target,
    details: event.details ?? {},
  };
}
