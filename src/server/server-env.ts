import type { Logger } from "pino";
import type { ModelRegistry } from "../core/backend.ts";

/** The Hono environment of the Bastion app: what middleware puts on the context. */
export interface ServerEnv {
  Variables: {
    requestId: string;
    logger: Logger;
  };
}

/** What route handlers need from the app, passed explicitly rather than through globals. */
export interface ServerDependencies {
  registry: ModelRegistry;
  logger: Logger;
  /** Bastion's version, shown in `system_fingerprint`. */
  version: string;
}
