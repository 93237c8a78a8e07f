/**
 * Splits `<think>…</think>` out of a streamed `content` channel, for upstreams (DeepSeek-R1 behind
 * Ollama or an older llama.cpp server) that do not separate reasoning themselves. Tags may be cut
 * anywhere across chunks: a suffix that could still become a tag is held back until the next chunk.
 * A thought opens only before any answer text, so an answer that quotes `<think>` stays text.
 */
export interface ThinkSplitter {
  push(text: string): Array<{ channel: "reasoning" | "text"; text: string }>;
  /** What is still held back, when the stream ends. */
  flush(): Array<{ channel: "reasoning" | "text"; text: string }>;
}

const open = "<think>";
const close = "</think>";

/** The length of the longest suffix of `text` that is a proper prefix of `tag`. */
function partialTagLength(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (tag.startsWith(text.slice(text.length - length))) return length;
  }
  return 0;
}

export function createThinkSplitter(): ThinkSplitter {
  // start: nothing but whitespace seen; thinking: inside the tags; after: dropping the blank
  // lines models put after `</think>`; answer: pass-through.
  let state: "start" | "thinking" | "after" | "answer" = "start";
  let pending = "";

  function drain(out: Array<{ channel: "reasoning" | "text"; text: string }>, final: boolean): void {
    for (;;) {
      if (state === "start") {
        const trimmed = pending.trimStart();
        if (trimmed.startsWith(open)) {
          state = "thinking";
          pending = trimmed.slice(open.length);
          continue;
        }
        if (!final && open.startsWith(trimmed)) return;
        state = "answer";
        continue;
      }
      if (state === "thinking") {
        const end = pending.indexOf(close);
        if (end >= 0) {
          if (end > 0) out.push({ channel: "reasoning", text: pending.slice(0, end) });
          pending = pending.slice(end + close.length);
          state = "after";
          continue;
        }
        const keep = final ? 0 : partialTagLength(pending, close);
        if (pending.length > keep)
          out.push({ channel: "reasoning", text: pending.slice(0, pending.length - keep) });
        pending = pending.slice(pending.length - keep);
        return;
      }
      if (state === "after") {
        pending = pending.trimStart();
        if (pending.length === 0) return;
        state = "answer";
        continue;
      }
      if (pending.length > 0) out.push({ channel: "text", text: pending });
      pending = "";
      return;
    }
  }

  return {
    push(text) {
      const out: Array<{ channel: "reasoning" | "text"; text: string }> = [];
      pending += text;
      drain(out, false);
      return out;
    },
    flush() {
      const out: Array<{ channel: "reasoning" | "text"; text: string }> = [];
      drain(out, true);
      return out;
    },
  };
}
