import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, csrfHeaders, errorFrom } from "./api.js";
import { Problem, useResource } from "./console-shared.js";
import { formatNumber, t } from "./i18n.js";

function formatBytes(bytes) {
  if (typeof bytes !== "number") return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${formatNumber(value, { maximumFractionDigits: 1 })} ${units[unit]}`;
}

/** Reads the pull's SSE stream: `progress` events while downloading, then `done` or `error`. */
async function pull(ref, onEvent, signal) {
  const response = await fetch("/admin/v1/models/pull", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...csrfHeaders() },
    body: JSON.stringify({ ref }),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (data) onEvent(name, JSON.parse(data));
      end = buffer.indexOf("\n\n");
    }
  }
}

export function ModelsTab() {
  const models = useResource("/v1/models");
  const [ref, setRef] = useState("");
  const [progress, setProgress] = useState();
  const [message, setMessage] = useState("");
  const [error, setError] = useState();

  const startPull = async (event) => {
    event.preventDefault();
    setError(undefined);
    setMessage("");
    setProgress({ file: ref, downloadedBytes: 0 });
    try {
      await pull(ref, (name, data) => {
        if (name === "progress") setProgress(data);
        else if (name === "done") {
          setProgress(undefined);
          if (data.served) setMessage(t("pulledServed", { id: data.id }));
          else setError({ message: data.message ?? t("pulledNotServed", { id: data.id }) });
          models.reload();
        } else if (name === "error") {
          setProgress(undefined);
          setError({ message: data.error?.message ?? "pull failed" });
        }
      });
    } catch (failure) {
      setProgress(undefined);
      setError(failure);
    }
  };
  const unload = async (model) => {
    try {
      setError(undefined);
      const result = await api.post(`/admin/v1/models/${encodeURIComponent(model.id)}/unload`);
      setMessage(result.unloaded ? `${model.id}: ${t("notLoaded")}` : `${model.id}: ${t("notLoaded")}`);
      models.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<section aria-labelledby="models-title">
    <h1 id="models-title">${t("models")}</h1>
    <form class="inline" onSubmit=${startPull}>
      <label class="field">${t("pullRef")}<input value=${ref} onInput=${(e) => setRef(e.currentTarget.value)} required size="40" /></label>
      <button type="submit" class="primary" disabled=${progress !== undefined}>${t("pull")}</button>
    </form>
    ${
      progress &&
      html`<div role="status">
      <p>${progress.file} ${formatBytes(progress.downloadedBytes)}${progress.totalBytes ? ` / ${formatBytes(progress.totalBytes)}` : ""}
        ${progress.bytesPerSecond ? ` · ${formatBytes(progress.bytesPerSecond)}/s` : ""}</p>
      <progress class="progress" max=${progress.totalBytes ?? 1} value=${progress.totalBytes ? progress.downloadedBytes : undefined} aria-label=${t("pull")}></progress>
    </div>`
    }
    ${message && html`<p class="ok" role="status">${message}</p>`}
    <${Problem} what=${t("models")} error=${error ?? models.error} />
    ${
      models.data &&
      html`<div class="table-wrap"><table class="data">
      <thead><tr><th>${t("model")}</th><th>${t("source")}</th><th>${t("licence")}</th><th>${t("publisher")}</th><th>${t("size")}</th><th>Status</th><th></th></tr></thead>
      <tbody>${(models.data.data ?? []).map(
        (model) => html`<tr key=${model.id}>
        <td>${model.id}${model.synthetic ? html` <span class="warn small">${t("synthetic")}</span>` : ""}</td>
        <td>${model.source ?? model.owned_by ?? ""}</td>
        <td>${model.licence ? (model.licence.url ? html`<a href=${model.licence.url} rel="noreferrer">${model.licence.id}</a>` : model.licence.id) : t("unknown")}</td>
        <td>${model.publisher ? `${model.publisher.name}${model.publisher.country ? ` (${model.publisher.country})` : ""}` : ""}</td>
        <td>${formatBytes(model.size_bytes)}</td>
        <td>${model.loaded ? t("loaded") : t("notLoaded")}</td>
        <td>${model.loaded && html`<button type="button" class="ghost small" onClick=${() => unload(model)}>${t("unload")}</button>`}</td>
      </tr>`,
      )}</tbody></table></div>`
    }
  </section>`;
}
