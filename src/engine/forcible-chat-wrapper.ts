import type {
  ChatWrapper,
  ChatWrapperGenerateContextStateOptions,
  ChatWrapperGeneratedContextState,
} from "node-llama-cpp";

export interface ForcibleChatWrapper {
  wrapper: ChatWrapper;
  /** While on, generations start inside the model's own function-call syntax. */
  force(on: boolean): void;
}

/**
 * The model's own chat wrapper, with a switch that starts the answer inside a function call: the
 * wrapper reports the call as "initially engaged", which node-llama-cpp honours by beginning the
 * generation at the function name (constrained to the offered functions) instead of free text.
 * One per slot, so the switch never leaks into another request.
 */
export function createForcibleChatWrapper(base: ChatWrapper): ForcibleChatWrapper {
  let forced = false;
  const wrapper = Object.create(base) as ChatWrapper;
  Object.defineProperty(wrapper, "generateContextState", {
    value(options: ChatWrapperGenerateContextStateOptions): ChatWrapperGeneratedContextState {
      const state = base.generateContextState(options);
      if (!forced || options.availableFunctions === undefined) return state;
      return {
        contextText: state.contextText,
        stopGenerationTriggers: state.stopGenerationTriggers,
        ...(state.ignoreStartText === undefined ? {} : { ignoreStartText: state.ignoreStartText }),
        functionCall: { initiallyEngaged: true, disengageInitiallyEngaged: [] },
      };
    },
  });
  return {
    wrapper,
    force(on) {
      forced = on;
    },
  };
}
