import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelResponse } from "node-llama-cpp";
import type { ChatMessage } from "../core/chat.ts";

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Converts core chat messages into node-llama-cpp's history. Reasoning sent back by the client is
 * dropped (the model must never see its earlier thoughts as input; the wire layer has already moved
 * any `<think>` block out of `content` into `reasoning`), tool results are attached to
 * the function call they answer, and an empty model turn is appended for the answer to come.
 */
export function toLlamaHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const pendingCalls = new Map<string, ChatModelFunctionCall>();

  for (const message of messages) {
    switch (message.role) {
      case "system": {
        const last = history.at(-1);
        if (last?.type === "system" && typeof last.text === "string") last.text += `\n\n${message.content}`;
        else history.push({ type: "system", text: message.content });
        break;
      }
      case "user":
        history.push({ type: "user", text: message.content });
        break;
      case "assistant": {
        const response: ChatModelResponse["response"] = [];
        if (message.content !== "") response.push(message.content);
        for (const call of message.toolCalls ?? []) {
          const item: ChatModelFunctionCall = {
            type: "functionCall",
            name: call.name,
            params: parseArguments(call.arguments),
            result: undefined,
          };
          pendingCalls.set(call.id, item);
          response.push(item);
        }
        history.push({ type: "model", response });
        break;
      }
      case "tool": {
        const call = pendingCalls.get(message.toolCallId);
        if (call !== undefined && call.result === undefined) {
          call.result = parseArguments(message.content);
        } else {
          // A tool result with no matching call: keep its information rather than dropping it.
          history.push({ type: "user", text: `Tool result (${message.toolCallId}):\n${message.content}` });
        }
        break;
      }
    }
  }
  for (const call of pendingCalls.values()) if (call.result === undefined) call.result = null;
  history.push({ type: "model", response: [] });
  return history;
}
