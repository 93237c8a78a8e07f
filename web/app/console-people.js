import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { Problem, useResource } from "./console-shared.js";
import { formatEur, t } from "./i18n.js";

const roleNames = ["member", "admin", "auditor"];
const when = (value) =>
  value ? new Date(typeof value === "number" && value < 1e12 ? value * 1000 : value).toLocaleString() : "";

export function UsersTab() {
  const users = useResource("/admin/v1/users", "users");
  const [error, setError] = useState();
  const create = async (event) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const body = { email: String(form.get("email")), roles: [String(form.get("role"))] };
    if (form.get("name")) body.name = String(form.get("name"));
    if (form.get("password")) body.password = String(form.get("password"));
    try {
      setError(undefined);
      await api.post("/admin/v1/users", body);
      formElement.reset();
      users.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  const remove = async (user) => {
    if (!confirm(t("confirmDelete", { title: user.email }))) return;
    try {
      await api.delete(`/admin/v1/users/${encodeURIComponent(user.id)}?erase=true`);
      users.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<section aria-labelledby="users-title">
    <h1 id="users-title">${t("users")}</h1>
    <form class="inline" onSubmit=${create} aria-label=${`${t("create")}: ${t("user")}`}>
      <label class="field">${t("email")}<input name="email" type="email" required /></label>
      <label class="field">${t("name")}<input name="name" /></label>
      <label class="field">${t("password")}<input name="password" type="password" minlength="8" autocomplete="new-password" /></label>
      <label class="field">${t("roles")}<select name="role">${roleNames.map((role) => html`<option value=${role}>${role}</option>`)}</select></label>
      <button type="submit" class="primary">${t("create")}</button>
    </form>
    <${Problem} what=${t("users")} error=${error ?? users.error} />
    ${
      users.data &&
      html`<div class="table-wrap"><table class="data">
      <thead><tr><th>${t("email")}</th><th>${t("name")}</th><th>${t("roles")}</th><th>${t("created")}</th><th></th></tr></thead>
      <tbody>${(users.data.data ?? []).map(
        (user) => html`<tr key=${user.id}>
        <td>${user.email}</td><td>${user.name ?? ""}</td><td>${(user.roles ?? []).join(", ")}</td><td>${when(user.created_at)}</td>
        <td><button type="button" class="ghost small" onClick=${() => remove(user)}>${t("delete")}</button></td>
      </tr>`,
      )}</tbody>
    </table></div>`
    }
  </section>`;
}

function numberOrUndefined(value) {
  if (value === null || value === "") return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

function limitsFrom(form) {
  const limits = {};
  for (const name of ["rpm", "tpm", "concurrency", "budget_soft_eur", "budget_hard_eur"]) {
    const value = numberOrUndefined(form.get(name));
    if (value !== undefined) limits[name] = value;
  }
  return limits;
}

function LimitFields({ limits = {} }) {
  return html`
    <label class="field">${t("rpm")}<input name="rpm" type="number" min="1" step="1" value=${limits.rpm ?? ""} /></label>
    <label class="field">${t("tpm")}<input name="tpm" type="number" min="1" step="1" value=${limits.tpm ?? ""} /></label>
    <label class="field">${t("concurrency")}<input name="concurrency" type="number" min="1" step="1" value=${limits.concurrency ?? ""} /></label>
    <label class="field">${t("budgetSoft")}<input name="budget_soft_eur" type="number" min="0" step="0.01" value=${limits.budget_soft_eur ?? ""} /></label>
    <label class="field">${t("budgetHard")}<input name="budget_hard_eur" type="number" min="0" step="0.01" value=${limits.budget_hard_eur ?? ""} /></label>`;
}

function describeLimits(limits = {}) {
  const parts = [];
  if (limits.rpm) parts.push(`${limits.rpm} rpm`);
  if (limits.tpm) parts.push(`${limits.tpm} tpm`);
  if (limits.concurrency) parts.push(`×${limits.concurrency}`);
  if (limits.budget_soft_eur !== undefined) parts.push(`${formatEur(limits.budget_soft_eur)} soft`);
  if (limits.budget_hard_eur !== undefined) parts.push(`${formatEur(limits.budget_hard_eur)} hard`);
  return parts.join(" · ") || "—";
}

export function KeysTab() {
  const keys = useResource("/admin/v1/keys", "keys");
  const users = useResource("/admin/v1/users", "users");
  const [secret, setSecret] = useState();
  const [editing, setEditing] = useState();
  const [error, setError] = useState();
  const [saved, setSaved] = useState("");

  const create = async (event) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const body = { name: String(form.get("name")) };
    if (form.get("user_id")) body.user_id = String(form.get("user_id"));
    const limits = limitsFrom(form);
    if (Object.keys(limits).length > 0) body.limits = limits;
    try {
      setError(undefined);
      const created = await api.post("/admin/v1/keys", body);
      setSecret(created.secret);
      formElement.reset();
      keys.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  const revoke = async (key) => {
    try {
      await api.post(`/admin/v1/keys/${encodeURIComponent(key.id)}/revoke`);
      keys.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  const saveLimits = async (event, key) => {
    event.preventDefault();
    try {
      await api.patch(`/admin/v1/keys/${encodeURIComponent(key.id)}`, {
        limits: limitsFrom(new FormData(event.currentTarget)),
      });
      setEditing(undefined);
      setSaved(t("limitsSaved"));
      keys.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  return html`<section aria-labelledby="keys-title">
    <h1 id="keys-title">${t("keys")}</h1>
    <form class="inline" onSubmit=${create} aria-label=${`${t("create")}: ${t("keys")}`}>
      <label class="field">${t("name")}<input name="name" required maxlength="200" /></label>
      <label class="field">${t("user")}<select name="user_id">
        <option value="">—</option>
        ${(users.data?.data ?? []).map((user) => html`<option value=${user.id}>${user.email}</option>`)}
      </select></label>
      <${LimitFields} />
      <button type="submit" class="primary">${t("create")}</button>
    </form>
    ${
      secret &&
      html`<div class="card" role="status">
      <p>${t("secretOnce")}</p>
      <p class="secret" data-secret>${secret}</p>
      <button type="button" onClick=${() => navigator.clipboard?.writeText(secret).catch(() => {})}>${t("copy")}</button>
      <button type="button" class="ghost" onClick=${() => setSecret(undefined)}>${t("close")}</button>
    </div>`
    }
    ${saved && html`<p class="ok" role="status">${saved}</p>`}
    <${Problem} what=${t("keys")} error=${error ?? keys.error} />
    ${
      keys.data &&
      html`<div class="table-wrap"><table class="data">
      <thead><tr><th>${t("name")}</th><th>Prefix</th><th>${t("user")}</th><th>${t("limits")}</th><th>${t("created")}</th><th>Status</th><th></th></tr></thead>
      <tbody>${(keys.data.data ?? []).map(
        (key) => html`<tr key=${key.id} data-key=${key.name}>
        <td>${key.name}</td><td><code>${key.prefix ?? ""}</code></td><td>${key.user_id ?? ""}</td>
        <td>${
          editing === key.id
            ? html`<form class="inline" onSubmit=${(event) => saveLimits(event, key)}><${LimitFields} limits=${key.limits ?? {}} />
              <button type="submit" class="primary small">${t("saveLimits")}</button>
              <button type="button" class="ghost small" onClick=${() => setEditing(undefined)}>${t("cancel")}</button></form>`
            : describeLimits(key.limits)
        }</td>
        <td>${when(key.created_at)}</td>
        <td>${key.revoked_at ? html`<span class="error">${t("revoked")}</span>` : html`<span class="ok">${t("active")}</span>`}</td>
        <td class="row">${
          !key.revoked_at &&
          html`
          <button type="button" class="ghost small" onClick=${() => setEditing(key.id)}>${t("edit_limits")}</button>
          <button type="button" class="ghost small" onClick=${() => revoke(key)}>${t("revoke")}</button>`
        }</td>
      </tr>`,
      )}</tbody>
    </table></div>`
    }
  </section>`;
}
