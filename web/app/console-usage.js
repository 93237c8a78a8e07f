import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Problem, useResource } from "./console-shared.js";
import { formatEur, formatNumber, t } from "./i18n.js";

const metrics = {
  tokens: {
    label: () => t("tokens"),
    value: (row) => (row.input_tokens ?? 0) + (row.output_tokens ?? 0),
    format: (v) => formatNumber(v),
  },
  cost_eur: { label: () => `${t("cost")} (€)`, value: (row) => row.cost_eur ?? 0, format: formatEur },
  energy_wh: {
    label: () => `${t("energy")} (Wh)`,
    value: (row) => row.energy_wh ?? 0,
    format: (v) => `${formatNumber(v, { maximumSignificantDigits: 4 })} Wh`,
  },
  co2e_g: {
    label: () => `${t("carbon")} (gCO2e)`,
    value: (row) => row.co2e_g ?? 0,
    format: (v) => `${formatNumber(v, { maximumSignificantDigits: 4 })} g`,
  },
  saved_eur: {
    label: () => `${t("saved")} (€)`,
    value: (row) => row.saved_eur ?? 0,
    format: formatEur,
  },
};
const dimensions = ["model", "backend", "tenant", "user"];
const palette = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"];

const isoDay = (date) => date.toISOString().slice(0, 10);

let uplotModule;
function loadUplot() {
  if (!uplotModule) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = import.meta.resolve("uplot").replace(/uPlot\.esm\.js$/, "uPlot.min.css");
    document.head.append(link);
    uplotModule = import("uplot");
  }
  return uplotModule;
}

/** One line per group (top 8 by the metric), one point per day. */
function Chart({ rows, metric, dimension, from, to }) {
  const box = useRef();
  useEffect(() => {
    let chart;
    let live = true;
    // Every day of the period, so that quiet days show as zero rather than vanish.
    const days = [];
    for (let at = Date.parse(`${from}T00:00:00Z`); at <= Date.parse(`${to}T00:00:00Z`); at += 86_400_000)
      days.push(new Date(at).toISOString().slice(0, 10));
    const totals = new Map();
    for (const row of rows) {
      const key = row[dimension] ?? "—";
      totals.set(key, (totals.get(key) ?? 0) + metrics[metric].value(row));
    }
    const groups = [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([key]) => key);
    const xs = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
    const series = groups.map((group) =>
      days.map((day) =>
        rows
          .filter((row) => row.day === day && (row[dimension] ?? "—") === group)
          .reduce((sum, row) => sum + metrics[metric].value(row), 0),
      ),
    );
    loadUplot().then(({ default: uPlot }) => {
      if (!live || !box.current) return;
      const style = getComputedStyle(document.documentElement);
      const fg = style.getPropertyValue("--muted").trim() || "#555";
      const grid = style.getPropertyValue("--border").trim() || "#ddd";
      const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
      chart = new uPlot(
        {
          width: Math.max(300, box.current.clientWidth - 16),
          height: 260,
          scales: { x: { time: true } },
          axes: [
            axis,
            {
              ...axis,
              size: 70,
              values: (_, ticks) => ticks.map((v) => formatNumber(v, { maximumSignificantDigits: 3 })),
            },
          ],
          series: [
            {},
            ...groups.map((group, index) => ({
              label: String(group),
              stroke: palette[index % palette.length],
              fill: `${palette[index % palette.length]}22`,
              width: 2,
              points: { show: true, size: 6 },
            })),
          ],
        },
        [xs, ...series],
        box.current,
      );
    });
    return () => {
      live = false;
      chart?.destroy();
    };
  }, [rows, metric, dimension, from, to]);
  return html`<div class="chart" ref=${box} role="img" aria-label=${`${metrics[metric].label()} / ${dimension}`}></div>`;
}

export function UsageTab() {
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 29 * 86_400_000)));
  const [to, setTo] = useState(isoDay(new Date()));
  const [dimension, setDimension] = useState("model");
  const [metric, setMetric] = useState("tokens");
  const path = `/admin/v1/usage?from=${from}T00:00:00Z&to=${to}T23:59:59Z&group_by=day,${dimension}`;
  const { data, error, reload, loading } = useResource(path, "usage");
  const rows = data?.data ?? [];
  const sum = (field) => rows.reduce((total, row) => total + (row[field] ?? 0), 0);
  return html`<section aria-labelledby="usage-title">
    <h1 id="usage-title">${t("usage")}</h1>
    <div class="toolbar">
      <label>${t("from")}<input type="date" value=${from} onChange=${(e) => setFrom(e.currentTarget.value)} /></label>
      <label>${t("to")}<input type="date" value=${to} onChange=${(e) => setTo(e.currentTarget.value)} /></label>
      <label>${t("groupBy")}<select value=${dimension} onChange=${(e) => setDimension(e.currentTarget.value)}>
        ${dimensions.map((name) => html`<option value=${name}>${name}</option>`)}
      </select></label>
      <label>${t("metric")}<select value=${metric} onChange=${(e) => setMetric(e.currentTarget.value)}>
        ${Object.entries(metrics).map(([name, entry]) => html`<option value=${name}>${entry.label()}</option>`)}
      </select></label>
      <button type="button" onClick=${reload} disabled=${loading}>${t("refresh")}</button>
    </div>
    <${Problem} what=${t("usage")} error=${error} />
    ${
      data &&
      html`<div class="cards">
        <div class="stat"><span>${t("requests")}</span><b>${formatNumber(sum("requests"))}</b></div>
        <div class="stat"><span>${t("tokens")}</span><b>${formatNumber(sum("input_tokens") + sum("output_tokens"))}</b></div>
        <div class="stat"><span>${t("cost")}</span><b>${formatEur(sum("cost_eur"))}</b></div>
        <div class="stat"><span>${t("energy")}</span><b>${formatNumber(sum("energy_wh"), { maximumSignificantDigits: 4 })} Wh</b></div>
        <div class="stat"><span>${t("carbon")}</span><b>${formatNumber(sum("co2e_g"), { maximumSignificantDigits: 4 })} gCO2e</b></div>
        <div class="stat"><span>${t("saved")}</span><b>${formatEur(sum("saved_eur"))}</b><span>${t("referenceCost")}: ${formatEur(sum("reference_cost_eur"))}</span></div>
      </div>
      ${rows.length === 0 ? html`<p class="muted">${t("noData")}</p>` : html`<${Chart} rows=${rows} metric=${metric} dimension=${dimension} from=${from} to=${to} />`}`
    }
  </section>`;
}
