import type { Logger } from "pino";
import type { ModelRegistry } from "../core/backend.ts";
import type { ChatService } from "../core/chat-service.ts";
import type { Principal } from "../core/principal.ts";
import type { EmbeddingAccounting } from "./metered-embedding.ts";

/** The Hono environment of the Bastion app: what middleware puts on the context. */
export interface ServerEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by the auth middleware; absent when auth is off. */
    principal?: Principal;
  };
}

/** What route handlers need from the app, passed explicitly rather than through globals. */
export interface ServerDependencies {
  registry: ModelRegistry;
  /** Runs chats: the gateway (policy, routing, metering, audit), or the registry directly. */
  chat: ChatService;
  logger: Logger;
  /** Bastion's version, shown in `system_fingerprint`. */
  version: string;
  /** Budgets, usage and audit of the embedding routes; absent = embeddings are not accounted. */
  embeddings?: EmbeddingAccounting;
}
