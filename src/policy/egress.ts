import type { PolicySummary } from "../core/chat-service.ts";
import { PolicyDeniedError } from "./policy-error.ts";
import type { BackendPlace, DetectorType, Egress, Inspection } from "./types.ts";

/** Whether raw data under this inspection may go to the backend: zone, backend list, extraterritorial law. */
export function rawAllowed(inspection: Inspection, backend: BackendPlace): boolean {
  const { zones, backends, extraterritorial } = inspection.allowed;
  if (zones !== "any" && !zones.includes(backend.jurisdiction.zone)) return false;
  if (backends !== undefined && !backends.includes(backend.id)) return false;
  if (backend.jurisdiction.extraterritorial === true && !extraterritorial) return false;
  return true;
}

/**
 * How a backend may be used under an inspection. block: never; allow: raw; keep-local: raw if the
 * backend is allowed, else not at all; pseudonymise: raw if allowed, else only pseudonymised (and
 * not at all when a detection sits in a field that cannot be pseudonymised, see `unmaskable`).
 * Fails closed: a malformed inspection or backend gives `denied`.
 */
export function egressFor(inspection: Inspection, backend: BackendPlace): Egress {
  try {
    switch (inspection.action) {
      case "block":
        return "denied";
      case "allow":
        return "raw";
      case "keep-local":
        return rawAllowed(inspection, backend) ? "raw" : "denied";
      case "pseudonymise":
        // A detection in a field no placeholder can stand in for: raw where allowed, else nowhere.
        if (rawAllowed(inspection, backend)) return "raw";
        return inspection.unmaskable !== undefined && inspection.unmaskable.length > 0
          ? "denied"
          : "pseudonymised";
      default:
        return "denied";
    }
  } catch {
    return "denied";
  }
}

const nouns: Record<DetectorType, [string, string]> = {
  email: ["email", "emails"],
  phone: ["phone number", "phone numbers"],
  iban: ["IBAN", "IBANs"],
  payment_card: ["payment card", "payment cards"],
  ip_address: ["IP address", "IP addresses"],
  national_id: ["national ID", "national IDs"],
  secret: ["secret", "secrets"],
  person: ["name", "names"],
  custom: ["custom match", "custom matches"],
};

/** `nouns` as entries, in its fixed order: built once, not per request. */
const nounEntries = Object.entries(nouns);

/** "2 emails, 1 IBAN": counts by type in a fixed order, never values. */
export function describeCounts(counts: Record<string, number>): string {
  let text = "";
  for (const [type, [one, many]] of nounEntries) {
    const count = counts[type] ?? 0;
    if (count > 0) text += `${text === "" ? "" : ", "}${count} ${count === 1 ? one : many}`;
  }
  return text;
}

function zonesText(inspection: Inspection): string {
  const { zones, backends } = inspection.allowed;
  if (backends !== undefined) return `backends ${backends.join(", ")}`;
  return zones === "any" ? "any zone" : zones.join("/");
}

/** The evidence object's policy part, e.g. `{ action: "pseudonymise", summary: "2 emails pseudonymised" }`. */
export function summarise(inspection: Inspection, egress: Egress): PolicySummary {
  const found = describeCounts(inspection.counts);
  let summary: string;
  if (egress === "denied") {
    const why =
      inspection.action === "block"
        ? `blocked (${inspection.reason ?? `${inspection.dataClass} data`})`
        : `denied: ${inspection.dataClass} data may only go to ${zonesText(inspection)}`;
    summary = found === "" ? why : `${found} detected; ${why}`;
  } else if (egress === "pseudonymised")
    summary = found === "" ? "nothing to pseudonymise" : `${found} pseudonymised`;
  else if (found === "")
    summary =
      inspection.dataClass === "public"
        ? "no personal data detected"
        : `${inspection.dataClass} data (declared), sent as is`;
  else if (inspection.action === "allow") summary = `${found} allowed`;
  else summary = `${found} kept within ${zonesText(inspection)}`;
  return {
    policy: inspection.policy,
    dataClass: inspection.dataClass,
    action: inspection.action,
    detections: { ...inspection.counts },
    summary,
  };
}

/**
 * The error a gateway throws when no candidate backend may receive the request: 403 with the
 * inspection's reason (`secret_detected`) or `no_allowed_backend`.
 */
export function policyDenied(inspection: Inspection, model?: string): PolicyDeniedError {
  if (inspection.action === "block")
    return new PolicyDeniedError(
      inspection.reason ?? `${inspection.dataClass}_blocked`,
      `Policy ${inspection.policy} blocks ${inspection.dataClass} data${describeCounts(inspection.counts) === "" ? "" : ` (${describeCounts(inspection.counts)} detected)`}`,
    );
  const unmaskable = inspection.unmaskable ?? [];
  if (inspection.action === "pseudonymise" && unmaskable.length > 0)
    return new PolicyDeniedError(
      "unmaskable_field",
      `Policy ${inspection.policy} pseudonymises ${inspection.dataClass} data for backends outside ${zonesText(inspection)}, but ${unmaskable.length === 1 ? "the field" : "the fields"} ${unmaskable.join(", ")} cannot be pseudonymised without changing what the request means (a name, a key, a pattern or a reference), and no backend that may receive it raw serves ${model === undefined ? "this model" : `model ${model}`}. Remove the personal data from ${unmaskable.length === 1 ? "that field" : "those fields"}`,
    );
  return new PolicyDeniedError(
    "no_allowed_backend",
    `Policy ${inspection.policy} lets ${inspection.dataClass} data go only to ${zonesText(inspection)}${inspection.allowed.extraterritorial ? "" : " (no operator under extraterritorial law)"}, and no such backend serves ${model === undefined ? "this model" : `model ${model}`}`,
  );
}
