import type { ChatEvidence } from "../core/chat-service.ts";

/** The `bastion` object that a response body or final chunk carries. */
export interface WireEvidence {
  backend: string;
  jurisdiction: ChatEvidence["jurisdiction"];
  policy: {
    name: string;
    data_class: string;
    action: string;
    detections: Record<string, number>;
    summary: string;
  };
  /** Metered cost of the answer, present once metering priced it. */
  usage?: { cost_eur: number; energy_wh: number; co2e_g: number };
}

export function toWireEvidence(evidence: ChatEvidence): WireEvidence {
  return {
    backend: evidence.backend,
    jurisdiction: evidence.jurisdiction,
    policy: {
      name: evidence.policy.policy,
      data_class: evidence.policy.dataClass,
      action: evidence.policy.action,
      detections: evidence.policy.detections,
      summary: evidence.policy.summary,
    },
    ...(evidence.usage === undefined
      ? {}
      : {
          usage: {
            cost_eur: evidence.usage.costEur,
            energy_wh: evidence.usage.energyWh,
            co2e_g: evidence.usage.co2eG,
          },
        }),
  };
}

/**
 * `x-bastion-backend`, `x-bastion-jurisdiction` (`FR; EU; operator` with `; extraterritorial`
 * when it applies) and `x-bastion-policy` (`action; class; summary`). Header values are kept to
 * visible ASCII.
 */
export function evidenceHeaders(evidence: ChatEvidence): Record<string, string> {
  const { jurisdiction, policy } = evidence;
  const jurisdictionText = [
    jurisdiction.country,
    jurisdiction.zone,
    jurisdiction.operator,
    ...(jurisdiction.extraterritorial === true ? ["extraterritorial"] : []),
  ].join("; ");
  return {
    "x-bastion-backend": ascii(evidence.backend),
    "x-bastion-jurisdiction": ascii(jurisdictionText),
    "x-bastion-policy": ascii(`${policy.action}; ${policy.dataClass}; ${policy.summary}`),
  };
}

function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 500);
}

/** Headers the browser may read on a cross-origin response. */
export const evidenceHeaderNames = ["x-bastion-backend", "x-bastion-jurisdiction", "x-bastion-policy"];
