import type { RouteConfig, RouteStrategy } from "../config/gateway-config.ts";
import type { Jurisdiction, ModelBackend, ModelRegistry, Pricing } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";

/** Client text echoed in an error is cut short. */
function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** One place a request may be served: a backend and the model name it knows there. */
export interface Candidate {
  /** `local` or a remote backend's id (what policies name in `backends`). */
  backendId: string;
  kind: "local" | "remote";
  /** The model at that backend: a local model id, or the route's name for it (mapped upstream). */
  model: string;
  target: ModelBackend;
  jurisdiction: Jurisdiction;
  pricing: Pricing;
  weight: number;
}

export interface RemoteEntry {
  id: string;
  jurisdiction: Jurisdiction;
  pricing: Pricing;
  forModel(model: string): ModelBackend;
}

export interface Resolution {
  route?: string;
  strategy: RouteStrategy;
  candidates: Candidate[];
}

export interface Router {
  /** Candidates for a public model name, or undefined when nothing answers to it. */
  lookup(name: string): Resolution | undefined;
  /** Candidates for a public model name, in route order; a 404 naming what exists when there is none. */
  resolve(name: string): Promise<Resolution>;
  routeNames(): string[];
}

export interface RouterOptions {
  routes: Readonly<Record<string, RouteConfig>>;
  local: ModelRegistry;
  localPlace: { jurisdiction: Jurisdiction; pricing: Pricing };
  remote: ReadonlyMap<string, RemoteEntry>;
}

/**
 * Routing as data: a route names ordered `backend/model` candidates. Every reference is checked
 * when the router is built, so a typo fails at start-up with the key path, not at the first request.
 */
export function createRouter(options: RouterOptions): Router {
  const localCandidate = (model: string, weight = 1): Candidate | undefined => {
    const target = options.local.get(model);
    if (target === undefined) return undefined;
    return {
      backendId: "local",
      kind: "local",
      model: target.describe().id,
      target,
      jurisdiction: options.localPlace.jurisdiction,
      pricing:
        target.pricing.inputPerMillion + target.pricing.outputPerMillion > 0
          ? target.pricing
          : options.localPlace.pricing,
      weight,
    };
  };
  const remoteCandidate = (backendId: string, model: string, weight = 1): Candidate | undefined => {
    const entry = options.remote.get(backendId);
    if (entry === undefined) return undefined;
    return {
      backendId,
      kind: "remote",
      model,
      target: entry.forModel(model),
      jurisdiction: entry.jurisdiction,
      pricing: entry.pricing,
      weight,
    };
  };

  const routes = new Map<string, { strategy: RouteStrategy; candidates: Candidate[] }>();
  for (const [name, route] of Object.entries(options.routes)) {
    const candidates: Candidate[] = [];
    for (const [index, raw] of route.candidates.entries()) {
      const { target, weight } = typeof raw === "string" ? { target: raw, weight: 1 } : raw;
      const slash = target.indexOf("/");
      const backendId = target.slice(0, slash);
      const model = target.slice(slash + 1);
      const candidate =
        backendId === "local" ? localCandidate(model, weight) : remoteCandidate(backendId, model, weight);
      if (candidate === undefined) {
        const known =
          backendId === "local"
            ? `no local model "${model}" is configured`
            : `no backend "${backendId}" is configured (backends: ${["local", ...options.remote.keys()].join(", ")})`;
        throw new BastionError(
          "invalid_request",
          `config: routes.${name}.candidates[${index}]: "${target}": ${known}.`,
        );
      }
      candidates.push(candidate);
    }
    routes.set(name, { strategy: route.strategy, candidates });
  }

  function lookup(name: string): Resolution | undefined {
    const route = routes.get(name);
    if (route !== undefined) return { route: name, ...route };
    const local = localCandidate(name);
    if (local !== undefined) return { strategy: "priority", candidates: [local] };
    // `backend/model` reaches one remote model directly, still under policy.
    const slash = name.indexOf("/");
    if (slash > 0) {
      const remote = remoteCandidate(name.slice(0, slash), name.slice(slash + 1));
      if (remote !== undefined) return { strategy: "priority", candidates: [remote] };
    }
    return undefined;
  }

  return {
    routeNames: () => [...routes.keys()],
    lookup,
    async resolve(name) {
      const found = lookup(name);
      if (found !== undefined) return found;
      const ids = [...(await options.local.list()).map((model) => model.id), ...routes.keys()];
      const available = ids.length === 0 ? "no models are configured" : `available models: ${ids.join(", ")}`;
      throw new BastionError("model_not_found", `The model '${clip(name)}' does not exist (${available}).`, {
        param: "model",
      });
    },
  };
}

/**
 * Orders allowed candidates by the route's strategy. Whatever comes first, the others follow in
 * route order, so every strategy still falls back.
 */
export function orderCandidates<T extends Candidate>(
  candidates: readonly T[],
  strategy: RouteStrategy,
  load: (candidate: T) => number,
  random: () => number = Math.random,
): T[] {
  const list = [...candidates];
  if (list.length < 2) return list;
  switch (strategy) {
    case "priority":
      return list;
    case "cheapest":
      return list
        .map((candidate, index) => ({ candidate, index }))
        .sort(
          (a, b) =>
            a.candidate.pricing.inputPerMillion +
              a.candidate.pricing.outputPerMillion -
              (b.candidate.pricing.inputPerMillion + b.candidate.pricing.outputPerMillion) ||
            a.index - b.index,
        )
        .map(({ candidate }) => candidate);
    case "least-busy":
      return list
        .map((candidate, index) => ({ candidate, index, load: load(candidate) }))
        .sort((a, b) => a.load - b.load || a.index - b.index)
        .map(({ candidate }) => candidate);
    case "weighted": {
      const total = list.reduce((sum, candidate) => sum + candidate.weight, 0);
      if (total <= 0) return list;
      let pick = random() * total;
      let chosen = list.length - 1;
      for (const [index, candidate] of list.entries()) {
        pick -= candidate.weight;
        if (pick < 0) {
          chosen = index;
          break;
        }
      }
      const [first] = list.splice(chosen, 1);
      return [first!, ...list];
    }
  }
}
