import type { PolicySummary } from "../core/chat-service.ts";
import { describeCounts } from "./egress.ts";
import type { Detection, Inspection, PolicyEngine } from "./types.ts";

/** One detection as a DPO sees it: never the raw value, only a masked form. */
export interface CheckedDetection {
  type: string;
  subtype?: string;
  start: number;
  end: number;
  masked: string;
  score: number;
}

/** The answer of `bastion policy check --json` and `POST /admin/v1/policies/check`. */
export interface PolicyCheck {
  detections: CheckedDetection[];
  decision: {
    policy: string;
    dataClass: Inspection["dataClass"];
    action: Inspection["action"];
    allowed: Inspection["allowed"];
    reason?: string;
    counts: Record<string, number>;
    summary: PolicySummary["summary"];
  };
}

/**
 * Masks a value for display: a short value is all stars; a longer one keeps two characters at each
 * end (an email keeps its first character and domain), enough to recognise it in the text you pasted.
 */
export function maskValue(detection: Pick<Detection, "type" | "value">): string {
  const value = detection.value.replace(/\s+/g, " ");
  if (detection.type === "email") {
    const at = value.indexOf("@");
    return `${value[0]}${"*".repeat(Math.max(1, at - 1))}${value.slice(at)}`;
  }
  if (detection.type === "secret" || value.length < 8) return "*".repeat(Math.min(value.length, 12));
  return `${value.slice(0, 2)}${"*".repeat(value.length - 4)}${value.slice(-2)}`;
}

/** Runs a text through a policy, as `bastion policy check` and the console's dry-run box do. */
export function checkText(
  engine: PolicyEngine,
  text: string,
  options: { policy?: string; declaredDataClass?: string } = {},
): PolicyCheck {
  const inspection = engine.inspectText(text, options);
  const decision: PolicyCheck["decision"] = {
    policy: inspection.policy,
    dataClass: inspection.dataClass,
    action: inspection.action,
    allowed: inspection.allowed,
    counts: inspection.counts,
    summary: describeDecision(inspection),
  };
  if (inspection.reason !== undefined) decision.reason = inspection.reason;
  return {
    detections: inspection.detections.map((detection) => {
      const checked: CheckedDetection = {
        type: detection.type,
        start: detection.start,
        end: detection.end,
        masked: maskValue(detection),
        score: detection.score,
      };
      if (detection.subtype !== undefined) checked.subtype = detection.subtype;
      return checked;
    }),
    decision,
  };
}

function describeDecision(inspection: Inspection): string {
  const found = describeCounts(inspection.counts);
  const what = found === "" ? "nothing detected" : found;
  const { zones, backends, extraterritorial } = inspection.allowed;
  const where =
    backends !== undefined
      ? `backends ${backends.join(", ")}`
      : zones === "any"
        ? "any zone"
        : `zones ${zones.join(", ")}`;
  const law = extraterritorial ? "" : ", no operator under extraterritorial law";
  switch (inspection.action) {
    case "block":
      return `${what}: class ${inspection.dataClass}, blocked (${inspection.reason ?? "blocked"})`;
    case "allow":
      return `${what}: class ${inspection.dataClass}, allowed anywhere`;
    case "keep-local":
      return `${what}: class ${inspection.dataClass}, raw only to ${where}${law}; other backends refused`;
    default:
      return `${what}: class ${inspection.dataClass}, raw only to ${where}${law}; pseudonymised elsewhere`;
  }
}
