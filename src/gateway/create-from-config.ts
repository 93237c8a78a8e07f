import type { Logger } from "pino";
import { createOpenAICompatibleBackend } from "../backends/openai-compatible.ts";
import type { BastionConfig } from "../config/config.ts";
import type { ModelRegistry } from "../core/backend.ts";
import type { RequestObserver } from "../core/request-record.ts";
import { createPolicyEngine } from "../policy/index.ts";
import type { PolicyEngine } from "../policy/types.ts";
import { resolveBackendConfigs } from "./backend-configs.ts";
import { createGateway, type Gateway } from "./gateway.ts";

export interface GatewayFromConfigOptions {
  config: Readonly<BastionConfig>;
  /** The engine's models. */
  local: ModelRegistry;
  /** Built from `config.policies` when absent. */
  policy?: PolicyEngine;
  observers?: readonly RequestObserver[];
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /**
   * True when serving: a backend whose key variable is unset is a start-up error. False for
   * `bastion backends`, which shows the problem instead.
   */
  requireKeys?: boolean;
}

/** The gateway as the config describes it: remote backends (presets applied, keys from the environment), routes, policy. */
export function createGatewayFromConfig(options: GatewayFromConfigOptions): Gateway {
  const { local, remote, problems } = resolveBackendConfigs(options.config.backends, {
    ...(options.env === undefined ? {} : { env: options.env }),
    requireKeys: options.requireKeys ?? true,
  });
  const built = remote.map((config) => {
    const problem = problems.get(config.id);
    return {
      config,
      backend: createOpenAICompatibleBackend({
        id: config.id,
        baseUrl: config.baseUrl,
        ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
        authHeader: config.authHeader,
        models: config.models,
        jurisdiction: config.jurisdiction,
        pricing: config.pricing,
        timeouts: config.timeouts,
        maxConcurrent: config.maxConcurrent,
        healthPath: config.healthPath,
      }),
      ...(problem === undefined ? {} : { problem }),
    };
  });
  try {
    return createGateway({
      local: options.local,
      localPlace: local,
      remote: built,
      routes: options.config.routes,
      settings: options.config.gateway,
      policy: options.policy ?? createPolicyEngine(options.config.policies),
      ...(options.observers === undefined ? {} : { observers: options.observers }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  } catch (error) {
    for (const { backend } of built) void backend.dispose();
    throw error;
  }
}
