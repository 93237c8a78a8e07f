import { html } from "htm/preact";
import { AuditTab } from "./console-audit.js";
import { ModelsTab } from "./console-models.js";
import { KeysTab, UsersTab } from "./console-people.js";
import { PoliciesTab } from "./console-policies.js";
import { UsageTab } from "./console-usage.js";
import { t } from "./i18n.js";

const tabsByRole = {
  admin: ["usage", "users", "keys", "policies", "audit", "models"],
  auditor: ["usage", "audit"],
};

/** The console for admins (everything) and auditors (usage and audit, read-only). */
export function Console({ session, tab }) {
  const roles = session.user?.roles ?? [];
  const tabs = roles.includes("admin")
    ? tabsByRole.admin
    : roles.includes("auditor")
      ? tabsByRole.auditor
      : [];
  const current = tabs.includes(tab) ? tab : tabs[0];
  const views = {
    usage: UsageTab,
    users: UsersTab,
    keys: KeysTab,
    policies: PoliciesTab,
    audit: AuditTab,
    models: ModelsTab,
  };
  const View = views[current];
  return html`<div class="console">
    <nav class="tabs" aria-label=${t("console")}>
      ${tabs.map((name) => html`<a href=${`#/console/${name}`} aria-current=${name === current ? "page" : undefined}>${t(name)}</a>`)}
    </nav>
    <main class="console-main">
      ${View ? html`<${View} session=${session} />` : html`<p class="notice">${t("notAvailable", { what: t("console"), message: "admin or auditor role required" })}</p>`}
    </main>
  </div>`;
}
