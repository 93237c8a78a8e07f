import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, features } from "./api.js";
import { Problem, useResource } from "./console-shared.js";
import { t } from "./i18n.js";

export function AuditTab() {
  const [filters, setFilters] = useState({ from: "", to: "", user: "", model: "", limit: "100" });
  const [applied, setApplied] = useState(filters);
  const query = new URLSearchParams(Object.entries(applied).filter(([, value]) => value !== "")).toString();
  const records = useResource(`/admin/v1/audit${query ? `?${query}` : ""}`, "audit");
  const [verdict, setVerdict] = useState();
  const [error, setError] = useState();
  const [verifying, setVerifying] = useState(false);
  const verify = async () => {
    setVerifying(true);
    try {
      setError(undefined);
      setVerdict(await api.post("/admin/v1/audit/verify"));
    } catch (failure) {
      setError(failure);
    } finally {
      setVerifying(false);
    }
  };
  const field = (
    name,
    type = "text",
  ) => html`<label>${t(name === "user" ? "user" : name === "model" ? "model" : name)}
    <input type=${type} value=${filters[name]} onInput=${(e) => setFilters({ ...filters, [name]: e.currentTarget.value })} /></label>`;
  const rows = records.data?.data ?? [];
  return html`<section aria-labelledby="audit-title">
    <h1 id="audit-title">${t("audit")}</h1>
    <div class="toolbar">
      <button type="button" class="primary" onClick=${verify} disabled=${verifying || !features.has("audit")}>${t("verifyChain")}</button>
      ${
        verdict &&
        html`<p role="status" data-verdict=${verdict.ok ? "ok" : "bad"} class=${verdict.ok ? "ok" : "error"}>
        ${
          verdict.ok
            ? `✔ ${t("chainOk", { records: verdict.records ?? 0, checkpoints: verdict.checkpoints ?? 0 })}`
            : `✘ ${t("chainBad", { seq: verdict.first_bad?.seq ?? "?", reason: verdict.first_bad?.reason ?? "" })}`
        }
      </p>`
      }
    </div>
    <${Problem} what=${t("verifyChain")} error=${error} />
    <form class="toolbar" onSubmit=${(event) => {
      event.preventDefault();
      setApplied(filters);
    }}>
      ${field("from", "datetime-local")} ${field("to", "datetime-local")} ${field("user")} ${field("model")}
      <label>Limit<input type="number" min="1" max="1000" value=${filters.limit} onInput=${(e) => setFilters({ ...filters, limit: e.currentTarget.value })} /></label>
      <button type="submit">${t("filter")}</button>
    </form>
    <${Problem} what=${t("audit")} error=${records.error} />
    ${
      records.data &&
      html`<div class="table-wrap"><table class="data">
      <thead><tr><th>#</th><th>${t("when")}</th><th>${t("who")}</th><th>${t("what")}</th><th>${t("model")}</th><th>${t("backend")}</th><th>${t("policy")}</th></tr></thead>
      <tbody>${
        rows.length === 0
          ? html`<tr><td colspan="7" class="muted">${t("noData")}</td></tr>`
          : rows.map((entry) => {
              // Each entry is the chain's envelope (seq, hash, time) around the audited record.
              const record = entry.record ?? entry;
              const who = record.actor ?? record.user ?? record.key ?? record.tenant ?? "";
              const country = record.jurisdiction?.country;
              return html`<tr key=${entry.seq ?? entry.id}>
                <td>${entry.seq ?? ""}</td>
                <td>${entry.created_at ?? record.started_at ?? ""}</td>
                <td>${who}</td>
                <td>${record.type ?? entry.kind ?? ""} ${record.endpoint ?? ""} ${record.status ?? ""}</td>
                <td>${record.model ?? ""}</td>
                <td>${record.backend ?? ""}${country ? ` (${country})` : ""}</td>
                <td>${record.policy?.action ?? ""}${record.policy?.name ? ` · ${record.policy.name}` : ""}</td>
              </tr>`;
            })
      }</tbody></table></div>`
    }
  </section>`;
}
