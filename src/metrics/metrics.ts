import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ModelRegistry } from "../core/backend.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import type { PricedRequest } from "../metering/meter.ts";

/**
 * Prometheus metrics. Labels are model, backend, status (and policy action / data class, detector
 * type): never a key, user or tenant, so that a scrape reveals no one.
 */
export interface Metrics {
  readonly registry: Registry;
  /** A request started on `model`, which has `slots` parallel sequences; call the result when it ends. */
  started(model: string, slots: number): () => void;
  observe(record: CompletedRequest, priced: PricedRequest): void;
  /** The text exposition format, and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Counters of one model and backend, published to prom-client on a scrape. */
interface Lane {
  labels: { model: string; backend: string };
  statuses: Map<string, number>;
  tokens: { input: number; output: number; reasoning: number; cached: number };
  cost: number;
  saved: number;
  energy: number;
  carbon: number;
  histograms: Map<string, { observe(value: number): void }>;
  ttft?: { observe(value: number): void };
  queue?: { observe(value: number): void };
}

const latencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createMetrics(options: { models?: ModelRegistry; processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "bastion_" });
  const labels = ["model", "backend", "status"] as const;
  // The counters of each model and backend are summed here as plain numbers and handed to
  // prom-client on a scrape: prom-client hashes and validates the labels on every `inc`, which
  // was most of what counting a request cost (a dozen increments a request, a scrape a minute).
  const lanes = new Map<string, Lane>();
  const laneOf = (model: string, backend: string): Lane => {
    const id = `${model}\n${backend}`;
    let lane = lanes.get(id);
    if (lane === undefined) {
      lane = {
        labels: { model, backend },
        statuses: new Map(),
        tokens: { input: 0, output: 0, reasoning: 0, cached: 0 },
        cost: 0,
        saved: 0,
        energy: 0,
        carbon: 0,
        histograms: new Map(),
      };
      lanes.set(id, lane);
    }
    return lane;
  };
  const publish = (metric: Counter, value: (lane: Lane) => number) => {
    metric.reset();
    for (const lane of lanes.values()) metric.inc(lane.labels, value(lane));
  };
  new Counter({
    name: "bastion_requests_total",
    help: "Finished chat requests.",
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const lane of lanes.values())
        for (const [status, count] of lane.statuses) this.inc({ ...lane.labels, status }, count);
    },
  });
  new Counter({
    name: "bastion_tokens_total",
    help: "Tokens processed, by type (input, output, reasoning, cached).",
    labelNames: ["model", "backend", "type"],
    registers: [registry],
    collect() {
      this.reset();
      for (const lane of lanes.values())
        for (const [type, count] of Object.entries(lane.tokens)) this.inc({ ...lane.labels, type }, count);
    },
  });
  const duration = new Histogram({
    name: "bastion_request_duration_seconds",
    help: "Request latency from admission to the last token.",
    labelNames: labels,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const ttft = new Histogram({
    name: "bastion_time_to_first_token_seconds",
    help: "Time from admission to the first token (reasoning or text).",
    labelNames: ["model", "backend"],
    buckets: latencyBuckets,
    registers: [registry],
  });
  const queue = new Histogram({
    name: "bastion_queue_wait_seconds",
    help: "Time spent waiting for a free generation slot.",
    labelNames: ["model", "backend"],
    buckets: latencyBuckets,
    registers: [registry],
  });
  new Counter({
    name: "bastion_cost_eur_total",
    help: "Metered cost in EUR (self-hosted cost model for local backends, price table for remote ones).",
    labelNames: ["model", "backend"],
    registers: [registry],
    collect() {
      publish(this, (lane) => lane.cost);
    },
  });
  new Counter({
    name: "bastion_saved_eur_total",
    help: "Reference-model cost minus metered cost, in EUR.",
    labelNames: ["model", "backend"],
    registers: [registry],
    collect() {
      publish(this, (lane) => lane.saved);
    },
  });
  new Counter({
    name: "bastion_energy_wh_total",
    help: "Metered energy in watt-hours.",
    labelNames: ["model", "backend"],
    registers: [registry],
    collect() {
      publish(this, (lane) => lane.energy);
    },
  });
  new Counter({
    name: "bastion_co2e_grams_total",
    help: "Metered emissions in grams CO2-equivalent.",
    labelNames: ["model", "backend"],
    registers: [registry],
    collect() {
      publish(this, (lane) => lane.carbon);
    },
  });
  const decisionCounts = new Map<string, { labels: { action: string; data_class: string }; count: number }>();
  const detectionCounts = new Map<string, number>();
  new Counter({
    name: "bastion_policy_decisions_total",
    help: "Policy decisions by action and data class.",
    labelNames: ["action", "data_class"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, count } of decisionCounts.values()) this.inc(labels, count);
    },
  });
  new Counter({
    name: "bastion_policy_detections_total",
    help: "Detections by detector type (counts only).",
    labelNames: ["type"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, count] of detectionCounts) this.inc({ type }, count);
    },
  });
  // In-flight requests per model and the model's slot count give busy sequences (min of the two)
  // and queue depth (the rest): the engine serves `slots` sequences at once and queues the others.
  const inFlight = new Map<string, { count: number; slots: number }>();
  new Gauge({
    name: "bastion_busy_sequences",
    help: "Generation sequences in use, per model.",
    labelNames: ["model"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, lane] of inFlight) this.set({ model }, Math.min(lane.count, lane.slots));
    },
  });
  new Gauge({
    name: "bastion_queue_depth",
    help: "Requests waiting for a generation sequence, per model.",
    labelNames: ["model"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, lane] of inFlight) this.set({ model }, Math.max(0, lane.count - lane.slots));
    },
  });
  const models = options.models;
  new Gauge({
    name: "bastion_model_loaded",
    help: "1 when the model is loaded in memory, else 0.",
    labelNames: ["model"],
    registers: [registry],
    async collect() {
      this.reset();
      if (models === undefined) return;
      for (const model of await models.list()) this.set({ model: model.id }, model.loaded ? 1 : 0);
    },
  });

  return {
    registry,
    started(model, slots) {
      let lane = inFlight.get(model);
      if (lane === undefined) {
        lane = { count: 0, slots };
        inFlight.set(model, lane);
      }
      lane.count++;
      const current = lane;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        current.count--;
      };
    },
    observe(record, priced) {
      const lane = laneOf(record.model, record.backend);
      lane.statuses.set(record.status, (lane.statuses.get(record.status) ?? 0) + 1);
      // A histogram child per label set, bound once (prom-client's `labels()` is that).
      let durations = lane.histograms.get(record.status);
      if (durations === undefined) {
        durations = duration.labels({ ...lane.labels, status: record.status });
        lane.histograms.set(record.status, durations);
      }
      durations.observe(record.timings.totalMs / 1000);
      if (record.status === "ok") {
        lane.ttft ??= ttft.labels(lane.labels);
        lane.queue ??= queue.labels(lane.labels);
        lane.ttft.observe(record.timings.ttftMs / 1000);
        lane.queue.observe(record.timings.queueMs / 1000);
      }
      lane.tokens.input += record.usage.promptTokens;
      lane.tokens.output += record.usage.completionTokens;
      lane.tokens.reasoning += record.usage.reasoningTokens;
      lane.tokens.cached += record.usage.cachedPromptTokens;
      lane.cost += priced.costEur;
      lane.saved += Math.max(0, priced.savedEur);
      lane.energy += priced.energyWh;
      lane.carbon += priced.co2eG;
      // Counted here and handed to prom-client on a scrape, as the lanes are (see above).
      const decision = `${record.policy.action}\n${record.policy.dataClass}`;
      const decided = decisionCounts.get(decision);
      if (decided === undefined)
        decisionCounts.set(decision, {
          labels: { action: record.policy.action, data_class: record.policy.dataClass },
          count: 1,
        });
      else decided.count++;
      for (const type in record.policy.detections)
        detectionCounts.set(type, (detectionCounts.get(type) ?? 0) + record.policy.detections[type]!);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
