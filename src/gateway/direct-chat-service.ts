import type { ModelRegistry } from "../core/backend.ts";
import type { ChatEvidence, ChatService, PolicySummary } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import { clip, resolveBackend } from "../server/resolve-backend.ts";

const noPolicy: PolicySummary = {
  policy: "none",
  dataClass: "unclassified",
  action: "allow",
  detections: {},
  summary: "no policy applied",
};

/**
 * The chat service without a gateway: resolves the model in the registry and runs it. Used by
 * tests of the wire layer and when no gateway is configured.
 */
export function createDirectChatService(registry: ModelRegistry): ChatService {
  return {
    async open(request, context) {
      const backend = await resolveBackend(registry, request.model);
      const model = backend.describe();
      if (!model.capabilities.chat) {
        throw new BastionError(
          "unsupported_parameter",
          `The model '${clip(request.model)}' does not support chat completions.`,
          { param: "model" },
        );
      }
      const evidence: ChatEvidence = {
        backend: backend.id,
        jurisdiction: backend.jurisdiction,
        policy: noPolicy,
      };
      return {
        model,
        evidence: () => evidence,
        parts: backend.chat(request, { signal: context.signal }),
      };
    },
  };
}
