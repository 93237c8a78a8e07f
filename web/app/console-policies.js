import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, features } from "./api.js";
import { Problem, useResource } from "./console-shared.js";
import { t } from "./i18n.js";

/** The pasted text with each detection wrapped in a <mark> that names its type. */
function Highlighted({ text, detections }) {
  const spans = [...detections]
    .filter((d) => Number.isInteger(d.start) && Number.isInteger(d.end))
    .sort((a, b) => a.start - b.start);
  const parts = [];
  let at = 0;
  for (const detection of spans) {
    if (detection.start < at) continue;
    parts.push(text.slice(at, detection.start));
    const label = detection.subtype ? `${detection.type} (${detection.subtype})` : detection.type;
    parts.push(
      html`<mark title=${label} data-type=${detection.type}>${text.slice(detection.start, detection.end)}</mark>`,
    );
    at = detection.end;
  }
  parts.push(text.slice(at));
  return html`<div class="highlighted" aria-label=${t("detections")}>${parts}</div>`;
}

export function PoliciesTab() {
  const policies = useResource("/admin/v1/policies", "policies");
  const [text, setText] = useState("");
  const [policy, setPolicy] = useState("");
  const [result, setResult] = useState();
  const [error, setError] = useState();
  const list = policies.data?.data ?? [];
  const check = async (event) => {
    event.preventDefault();
    try {
      setError(undefined);
      const body = { text };
      if (policy) body.policy = policy;
      setResult({ text, ...(await api.post("/admin/v1/policies/check", body)) });
    } catch (failure) {
      setError(failure);
    }
  };
  const decision = result?.decision;
  return html`<section aria-labelledby="policies-title">
    <h1 id="policies-title">${t("policies")}</h1>
    <h2 id="dry-run-title">${t("dryRun")}</h2>
    <form onSubmit=${check} aria-labelledby="dry-run-title">
      <p class="muted">${t("dryRunHelp")}</p>
      <label class="visually-hidden" for="dry-run-text">${t("textToCheck")}</label>
      <textarea id="dry-run-text" class="wide" rows="5" value=${text} onInput=${(e) => setText(e.currentTarget.value)} required />
      <div class="toolbar">
        <label>${t("policy")}<select value=${policy} onChange=${(e) => setPolicy(e.currentTarget.value)}>
          <option value="">default</option>
          ${list.map((entry) => html`<option value=${entry.name}>${entry.name}</option>`)}
        </select></label>
        <button type="submit" class="primary" disabled=${!features.has("policies")}>${t("check")}</button>
      </div>
    </form>
    <${Problem} what=${t("dryRun")} error=${error} />
    ${
      result &&
      html`<div data-dry-run-result>
      ${result.detections?.length ? html`<${Highlighted} text=${result.text} detections=${result.detections} />` : html`<p>${t("nothingFound")}</p>`}
      <ul class="found">${(result.detections ?? []).map(
        (detection) =>
          html`<li><mark data-type=${detection.type}>${detection.type}</mark> ${detection.masked}</li>`,
      )}</ul>
      <p class=${`decision policy-${decision?.action}`}><strong>${t("decision")}: ${decision?.action ?? ""}</strong>${" "}(${decision?.dataClass ?? ""}) ${decision?.summary ?? ""}</p>
    </div>`
    }
    <h2>${t("policies")}</h2>
    <${Problem} what=${t("policies")} error=${policies.error} />
    ${
      list.length > 0 &&
      html`<div class="table-wrap"><table class="data">
      <thead><tr><th>${t("name")}</th><th>public</th><th>internal</th><th>personal</th><th>secret</th></tr></thead>
      <tbody>${list.map(
        (entry) => html`<tr key=${entry.name}>
        <td>${entry.name}${entry.name === policies.data.default ? " (default)" : ""}</td>
        ${["public", "internal", "personal", "secret"].map((name) => {
          const rule = entry.classes?.[name];
          return html`<td>${rule ? `${rule.action} → ${[rule.zones].flat().join(", ")}` : ""}</td>`;
        })}
      </tr>`,
      )}</tbody></table></div>`
    }
  </section>`;
}
