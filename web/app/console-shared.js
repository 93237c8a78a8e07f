import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, features } from "./api.js";
import { t } from "./i18n.js";

/** Loads `path` and re-loads on demand; `error.status` tells a missing feature (404) from a failure. */
export function useResource(path, feature) {
  const [state, setState] = useState({ loading: true });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    if (feature !== undefined && !features.has(feature)) {
      setState({ error: new ApiError(404, `this server has no ${path.split("?")[0]} route`) });
      return;
    }
    setState((previous) => ({ ...previous, loading: true }));
    api.get(path).then(
      (data) => live && setState({ data }),
      (error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [path, version]);
  return { ...state, reload: () => setVersion((value) => value + 1) };
}

/** What a tab shows when the server does not offer the feature, or the call failed. */
export function Problem({ what, error }) {
  if (!error) return null;
  const missing = error.status === 404 || error.status === 501;
  return html`<p class=${missing ? "notice" : "error"} role=${missing ? "status" : "alert"}>
    ${missing ? t("notAvailable", { what, message: error.message }) : error.message}
  </p>`;
}
