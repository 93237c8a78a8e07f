import type { ChatMessage, ChatRequest } from "../core/chat.ts";

/** One text a request carries, named by its path as the client wrote it. */
export interface RequestText {
  path: string;
  text: string;
}

/**
 * Every text of a request that a backend would see: message contents (system, user, assistant,
 * tool results), reasoning echoed back by the client, and assistant tool-call arguments.
 */
export function requestTexts(request: ChatRequest): RequestText[] {
  const texts: RequestText[] = [];
  request.messages.forEach((message, index) => {
    texts.push({ path: `messages[${index}].content`, text: message.content });
    if (message.role === "assistant") {
      if (message.reasoning !== undefined)
        texts.push({ path: `messages[${index}].reasoning`, text: message.reasoning });
      message.toolCalls?.forEach((call, callIndex) => {
        texts.push({ path: `messages[${index}].tool_calls[${callIndex}].arguments`, text: call.arguments });
      });
    }
  });
  return texts;
}

/** A copy of the request with each text passed through `rewrite(text, path)`. */
export function mapRequestTexts(
  request: ChatRequest,
  rewrite: (text: string, path: string) => string,
): ChatRequest {
  const messages = request.messages.map((message, index): ChatMessage => {
    const content = rewrite(message.content, `messages[${index}].content`);
    if (message.role !== "assistant") return { ...message, content };
    const copy: ChatMessage = { ...message, content };
    if (message.reasoning !== undefined)
      copy.reasoning = rewrite(message.reasoning, `messages[${index}].reasoning`);
    if (message.toolCalls !== undefined)
      copy.toolCalls = message.toolCalls.map((call, callIndex) => ({
        ...call,
        arguments: rewrite(call.arguments, `messages[${index}].tool_calls[${callIndex}].arguments`),
      }));
    return copy;
  });
  return { ...request, messages };
}
