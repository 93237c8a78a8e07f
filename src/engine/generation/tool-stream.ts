import type { LlamaChatResponseFunctionCall, LlamaChatResponseFunctionCallParamsChunk } from "node-llama-cpp";
import type { ChatStreamPart } from "../../core/chat.ts";

let callCounter = 0;

/** An id in OpenAI's `call_...` form, unique within the process. */
export function newToolCallId(): string {
  callCounter = (callCounter + 1) % 1_000_000;
  return `call_${Date.now().toString(36)}${callCounter.toString(36)}`;
}

interface TrackedCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
  complete: boolean;
}

export interface ToolCallStream {
  /** node-llama-cpp's `onFunctionCallParamsChunk`: the name at once, then the arguments as deltas. */
  onParamsChunk(chunk: LlamaChatResponseFunctionCallParamsChunk): void;
  /** node-llama-cpp's `onFunctionCall`: the call is complete. */
  onFunctionCall(call: LlamaChatResponseFunctionCall<never>): void;
  /**
   * Emits every call the generation began but did not finish (cut by `max_tokens`), with the
   * arguments generated so far, as OpenAI does. Returns how many calls were emitted in all.
   */
  finish(): number;
}

/**
 * Turns node-llama-cpp's function-call callbacks into `tool-call-delta` parts while a call is
 * generated and one `tool-call` part once it is complete, whose arguments are the text exactly as
 * generated (so deltas and the whole call always agree).
 */
export function createToolCallStream(push: (part: ChatStreamPart) => void): ToolCallStream {
  const calls: TrackedCall[] = [];
  const byCallIndex = new Map<number, TrackedCall>();

  function emit(call: TrackedCall): void {
    call.complete = true;
    push({
      type: "tool-call",
      index: call.index,
      call: { id: call.id, name: call.name, arguments: call.arguments },
    });
  }

  return {
    onParamsChunk(chunk) {
      let call = byCallIndex.get(chunk.callIndex);
      if (call === undefined) {
        call = {
          index: calls.length,
          id: newToolCallId(),
          name: chunk.functionName,
          arguments: "",
          complete: false,
        };
        calls.push(call);
        byCallIndex.set(chunk.callIndex, call);
      } else if (chunk.paramsChunk === "") {
        return;
      }
      call.arguments += chunk.paramsChunk;
      push({
        type: "tool-call-delta",
        index: call.index,
        id: call.id,
        name: call.name,
        argumentsDelta: chunk.paramsChunk,
      });
    },
    onFunctionCall(done) {
      // Calls complete in the order they started; a call without parameters streams no chunk.
      const started = calls.find((call) => !call.complete && call.name === done.functionName);
      if (started !== undefined) {
        if (!isJson(started.arguments)) started.arguments = JSON.stringify(done.params ?? {});
        emit(started);
        return;
      }
      const call: TrackedCall = {
        index: calls.length,
        id: newToolCallId(),
        name: done.functionName,
        arguments: JSON.stringify(done.params ?? {}),
        complete: false,
      };
      calls.push(call);
      emit(call);
    },
    finish() {
      for (const call of calls) if (!call.complete) emit(call);
      return calls.length;
    },
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
