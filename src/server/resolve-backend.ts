import type { ModelBackend, ModelRegistry } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";

/** Client text echoed in an error message is cut short: a 3 MB model name must not come back whole. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** The backend for a model id or alias, or a 404 `model_not_found` that lists the available ids. */
export async function resolveBackend(registry: ModelRegistry, model: string): Promise<ModelBackend> {
  const backend = registry.get(model);
  if (backend !== undefined) return backend;
  const ids = (await registry.list()).map((descriptor) => descriptor.id);
  const available = ids.length === 0 ? "no models are configured" : `available models: ${ids.join(", ")}`;
  throw new BastionError("model_not_found", `The model '${clip(model)}' does not exist (${available}).`, {
    param: "model",
  });
}
