import { csrfHeaders, errorFrom } from "./api.js";

/**
 * Streams a chat completion and reports each step to `on`: `reasoning` and `text` deltas as they
 * come, then `done` with the data passport (evidence headers and the final chunk's `bastion`
 * object, usage, time to first token). Stopping is the caller's AbortController.
 */
export async function streamChat({ model, messages, signal, on }) {
  const started = performance.now();
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...csrfHeaders() },
    body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok) {
    if (response.status === 401) dispatchEvent(new Event("bastion:signed-out"));
    throw await errorFrom(response);
  }
  const passport = {
    backend: response.headers.get("x-bastion-backend") ?? undefined,
    jurisdictionHeader: response.headers.get("x-bastion-jurisdiction") ?? undefined,
    policyHeader: response.headers.get("x-bastion-policy") ?? undefined,
    model,
  };
  let firstTokenAt;
  let finishReason;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const handle = (data) => {
    if (data === "[DONE]") return;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message ?? "stream error");
    if (chunk.model) passport.model = chunk.model;
    if (chunk.usage) passport.usage = chunk.usage;
    if (chunk.bastion) {
      // `bastion.usage` is metering's cost, energy and carbon; token counts stay in `usage`.
      const { usage: metering, ...evidence } = chunk.bastion;
      Object.assign(passport, evidence);
      if (metering) passport.metering = metering;
    }
    if (chunk.timings) passport.timings = chunk.timings;
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta ?? {};
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (reasoning || delta.content) firstTokenAt ??= performance.now();
      if (reasoning) on({ type: "reasoning", text: reasoning });
      if (delta.content) on({ type: "text", text: delta.content });
      if (choice.finish_reason) finishReason = choice.finish_reason;
      if (choice.timings) passport.timings = choice.timings;
    }
  };
  const finish = () => {
    passport.ttftMs = firstTokenAt === undefined ? undefined : Math.round(firstTokenAt - started);
    passport.totalMs = Math.round(performance.now() - started);
    passport.finishReason = finishReason;
    return passport;
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let eventName = "message";
        const data = [];
        for (const line of event.split("\n")) {
          if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          else if (line.startsWith("event:")) eventName = line.slice(6).trim();
        }
        if (data.length > 0) {
          if (eventName === "error") {
            const body = JSON.parse(data.join("\n"));
            throw new Error(body.error?.message ?? "stream error");
          }
          handle(data.join("\n"));
        }
        end = buffer.indexOf("\n\n");
      }
    }
  } catch (error) {
    // Stopped: what the headers already said (backend, place, policy) stays with the partial answer.
    if (error?.name === "AbortError") error.passport = finish();
    throw error;
  }
  return finish();
}
