import { html, render } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, features, setCsrfToken } from "./api.js";
import { Chat } from "./chat.js";
import { language, languages, setLanguage, t } from "./i18n.js";
import { installCopyHandler } from "./markdown.js";
import { SignIn } from "./signin.js";

const title = document.querySelector('meta[name="bastion-title"]')?.content ?? "Bastion";

function initialTheme() {
  const saved = localStorage.getItem("bastion.theme");
  if (saved === "dark" || saved === "light") return saved;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
}
applyTheme(initialTheme());

function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [section = "", ...rest] = hash.split("/");
  if (section === "console") return { view: "console", tab: rest[0] ?? "" };
  if (section === "c" && rest[0]) return { view: "chat", conversationId: decodeURIComponent(rest[0]) };
  return { view: "chat" };
}

function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** The console is loaded only by those who open it; the chat's first load stays small. */
function LazyConsole({ session, tab }) {
  const [module, setModule] = useState();
  const [error, setError] = useState();
  useEffect(() => {
    import("./console.js").then(setModule, setError);
  }, []);
  if (error) return html`<p class="error" role="alert">${String(error.message ?? error)}</p>`;
  if (!module) return html`<p class="muted" aria-busy="true">…</p>`;
  return html`<${module.Console} session=${session} tab=${tab} />`;
}

function Header({ session, route, onSignOut, theme, setTheme, lang, setLang }) {
  const roles = session.user?.roles ?? [];
  const canConsole = roles.includes("admin") || roles.includes("auditor");
  return html`<header class="topbar">
    <a class="brand" href="#/" aria-label=${title}><img src=${new URL("favicon.svg", import.meta.url).href} alt="" width="22" height="22" /><span class="brand-name">${title}</span></a>
    <nav aria-label="Main">
      <a href="#/" aria-current=${route.view === "chat" ? "page" : undefined}>${t("chat")}</a>
      ${canConsole && html`<a href="#/console" aria-current=${route.view === "console" ? "page" : undefined}>${t("console")}</a>`}
    </nav>
    <div class="topbar-tools">
      <label class="visually-hidden" for="lang-select">${t("language")}</label>
      <select id="lang-select" value=${lang} onChange=${(event) => setLang(event.currentTarget.value)}>
        ${languages.map((code) => html`<option value=${code}>${code.toUpperCase()}</option>`)}
      </select>
      <button type="button" class="ghost" onClick=${() => setTheme(theme === "dark" ? "light" : "dark")}
        aria-label=${`${t("theme")}: ${theme === "dark" ? t("light") : t("dark")}`}>${theme === "dark" ? "☀" : "☾"}</button>
      <span class="who" title=${session.user?.email ?? ""}>${session.user?.name || session.user?.email || ""}</span>
      ${
        !session.authOff &&
        html`<button type="button" class="ghost sign-out" onClick=${onSignOut} aria-label=${t("signOut")} title=${t("signOut")}>
        <svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><path d="M14 4h5v16h-5M10 8l-4 4 4 4M6 12h10" /></svg><span class="label">${t("signOut")}</span></button>`
      }
    </div>
  </header>`;
}

function App() {
  const [session, setSession] = useState();
  const [problem, setProblem] = useState();
  const [theme, setThemeState] = useState(initialTheme);
  const [lang, setLangState] = useState(language);
  const route = useRoute();

  const setTheme = (next) => {
    localStorage.setItem("bastion.theme", next);
    applyTheme(next);
    setThemeState(next);
  };
  const setLang = (next) => {
    setLanguage(next);
    setLangState(next);
  };

  const loadSession = async () => {
    // No /auth routes: this server runs without authentication (loopback only).
    if (!features.has("auth")) {
      setSession({ user: { name: "local", roles: ["admin"] }, authOff: true });
      return;
    }
    try {
      const me = await api.get("/auth/me");
      setCsrfToken(me.csrfToken);
      // Auth turned off (loopback only): the anonymous admin, with no session to end.
      setSession(me.user?.id === null ? { ...me, authOff: true } : me);
    } catch (error) {
      if (error.status === 401) setSession(null);
      else setProblem(error.message);
    }
  };
  useEffect(() => {
    loadSession();
    const signedOut = () => {
      setCsrfToken("");
      setSession((current) => (current?.authOff ? current : null));
    };
    addEventListener("bastion:signed-out", signedOut);
    return () => removeEventListener("bastion:signed-out", signedOut);
  }, []);

  const signOut = async () => {
    try {
      await api.post("/auth/logout");
    } finally {
      setCsrfToken("");
      setSession(null);
      location.hash = "#/";
    }
  };

  // "Usable": the first screen that takes input (sign-in or chat) is on the page.
  useEffect(() => {
    if (session !== undefined && performance.getEntriesByName("bastion:usable").length === 0)
      performance.mark("bastion:usable");
  }, [session]);

  if (problem) return html`<main class="centered"><p class="error" role="alert">${problem}</p></main>`;
  if (session === undefined)
    return html`<main class="centered"><p class="muted" aria-busy="true">${title}…</p></main>`;
  if (session === null)
    return html`<${SignIn} title=${title} onSignedIn=${(me) => {
      setCsrfToken(me.csrfToken);
      setSession(me);
    }} />`;
  return html`<div class="shell" key=${lang}>
    <${Header} session=${session} route=${route} onSignOut=${signOut} theme=${theme} setTheme=${setTheme} lang=${lang} setLang=${setLang} />
    ${
      route.view === "console"
        ? html`<${LazyConsole} session=${session} tab=${route.tab} />`
        : html`<${Chat} session=${session} conversationId=${route.conversationId} />`
    }
  </div>`;
}

installCopyHandler({ copy: () => t("copy"), copied: () => t("copied") });
const root = document.getElementById("app");
// The boot message is the server's; Preact takes the element over from an empty state.
root.textContent = "";
render(html`<${App} />`, root);
