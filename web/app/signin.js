import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { t } from "./i18n.js";

/** Email and password, or an API key (how the bootstrap admin gets in the first time). */
export function SignIn({ title, onSignedIn }) {
  const [withKey, setWithKey] = useState(false);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = withKey
      ? { apiKey: String(form.get("apiKey") ?? "").trim() }
      : { email: String(form.get("email") ?? "").trim(), password: String(form.get("password") ?? "") };
    setBusy(true);
    setError("");
    try {
      onSignedIn(await api.post("/auth/login", body));
    } catch (failure) {
      setError(t("signInFailed", { message: failure.message }));
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="centered">
    <form class="card signin" onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title"><img src=${new URL("favicon.svg", import.meta.url).href} alt="" width="28" height="28" /> ${title}</h1>
      ${
        withKey
          ? html`<label for="signin-key">${t("apiKey")}</label>
            <input id="signin-key" name="apiKey" type="password" autocomplete="off" required autofocus />`
          : html`<label for="signin-email">${t("email")}</label>
            <input id="signin-email" name="email" type="email" autocomplete="username" required autofocus />
            <label for="signin-password">${t("password")}</label>
            <input id="signin-password" name="password" type="password" autocomplete="current-password" required />`
      }
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" class="primary" disabled=${busy}>${t("signIn")}</button>
      <button type="button" class="link" onClick=${() => {
        setWithKey(!withKey);
        setError("");
      }}>${withKey ? t("usePassword") : t("useApiKey")}</button>
    </form>
  </main>`;
}
