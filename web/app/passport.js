import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { formatEur, formatNumber, t } from "./i18n.js";

/** Country and zone from the `bastion` object, else from the `x-bastion-jurisdiction` header. */
export function jurisdictionOf(passport) {
  if (passport?.jurisdiction && typeof passport.jurisdiction === "object") return passport.jurisdiction;
  const header = passport?.jurisdictionHeader;
  if (!header) return undefined;
  const [country, zone, operator, extra] = header.split(";").map((part) => part.trim());
  return { country, zone, operator, extraterritorial: extra === "extraterritorial" };
}

/** The policy's summary, from the `bastion` object, else from the `x-bastion-policy` header. */
export function policyOf(passport) {
  if (passport?.policy && typeof passport.policy === "object") return passport.policy;
  const header = passport?.policyHeader;
  if (!header) return undefined;
  const [action, dataClass, ...summary] = header.split(";").map((part) => part.trim());
  return { action, data_class: dataClass, summary: summary.join("; ") };
}

export function placeLabel(jurisdiction) {
  if (!jurisdiction) return t("unknown");
  if (jurisdiction.country === "local") return `${t("local")} (${jurisdiction.operator ?? ""})`;
  return [jurisdiction.country, jurisdiction.zone].filter(Boolean).join(" · ");
}

const metered = (value, format) => (typeof value === "number" ? format(value) : t("notMetered"));

/**
 * The data passport under an answer: where it was computed, what the policy did, what it cost.
 * A compact line; a click opens the details.
 */
export function Passport({ passport }) {
  const [open, setOpen] = useState(false);
  if (!passport) return null;
  const jurisdiction = jurisdictionOf(passport);
  const policy = policyOf(passport);
  const usage = passport.usage ?? {};
  const meter = passport.metering ?? {};
  const tokens = usage.total_tokens;
  const id = `passport-${passport.id ?? Math.random().toString(36).slice(2)}`;
  const detections = policy?.detections ? Object.entries(policy.detections) : [];
  return html`<div class="passport">
    <button type="button" class="passport-line" aria-expanded=${open} aria-controls=${id} onClick=${() => setOpen(!open)}
      title=${t("passport")}>
      <span class="badge">${placeLabel(jurisdiction)}</span>
      <span>${passport.backend ?? t("unknown")}</span>
      ${policy && html`<span class="policy-${policy.action}">${policy.summary || policy.action}</span>`}
      ${typeof tokens === "number" && html`<span>${formatNumber(tokens)} ${t("tokens").toLowerCase()}</span>`}
      ${typeof meter.cost_eur === "number" && html`<span>${formatEur(meter.cost_eur)}</span>`}
      ${typeof meter.energy_wh === "number" && html`<span>${formatNumber(meter.energy_wh, { maximumSignificantDigits: 2 })} Wh</span>`}
      ${typeof passport.ttftMs === "number" && html`<span>TTFT ${formatNumber(passport.ttftMs)} ms</span>`}
    </button>
    ${
      open &&
      html`<dl class="passport-details" id=${id} aria-label=${t("passport")}>
      <dt>${t("backend")}</dt><dd>${passport.backend ?? t("unknown")}${passport.model ? ` (${passport.model})` : ""}</dd>
      <dt>${t("jurisdiction")}</dt><dd>${
        jurisdiction
          ? `${jurisdiction.country ?? "?"} · ${jurisdiction.zone ?? "?"}${jurisdiction.operator ? ` · ${jurisdiction.operator}` : ""}${jurisdiction.extraterritorial ? " · extraterritorial" : ""}`
          : t("unknown")
      }</dd>
      <dt>${t("policy")}</dt><dd>${policy ? `${policy.name ? `${policy.name}: ` : ""}${policy.summary || policy.action}` : t("unknown")}</dd>
      <dt>${t("dataClass")}</dt><dd>${policy?.data_class ?? t("unknown")}</dd>
      <dt>${t("action")}</dt><dd>${policy?.action ?? t("unknown")}</dd>
      <dt>${t("detections")}</dt><dd>${detections.length === 0 ? "0" : detections.map(([type, count]) => `${type} × ${count}`).join(", ")}</dd>
      <dt>${t("tokens")}</dt><dd>${
        typeof tokens === "number"
          ? `${t("tokensInOut", { input: formatNumber(usage.prompt_tokens ?? 0), output: formatNumber(usage.completion_tokens ?? 0) })}${usage.completion_tokens_details?.reasoning_tokens ? ` (${formatNumber(usage.completion_tokens_details.reasoning_tokens)} ${t("reasoning")})` : ""}`
          : t("unknown")
      }</dd>
      <dt>${t("cost")}</dt><dd>${metered(meter.cost_eur, formatEur)}</dd>
      <dt>${t("energy")}</dt><dd>${metered(meter.energy_wh, (value) => `${formatNumber(value, { maximumSignificantDigits: 3 })} Wh`)}</dd>
      <dt>${t("carbon")}</dt><dd>${metered(meter.co2e_g, (value) => `${formatNumber(value, { maximumSignificantDigits: 3 })} gCO2e`)}</dd>
      <dt>${t("ttft")}</dt><dd>${typeof passport.ttftMs === "number" ? `${formatNumber(passport.ttftMs)} ms` : t("unknown")}</dd>
    </dl>`
    }
  </div>`;
}
