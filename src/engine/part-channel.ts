import type { ChatStreamPart } from "../core/chat.ts";

export interface PartChannel {
  push(part: ChatStreamPart): void;
  close(): void;
  fail(error: unknown): void;
  /** Yields parts as they are pushed until the channel closes; throws what `fail` was given. */
  drain(): AsyncGenerator<ChatStreamPart>;
}

/** Bridges node-llama-cpp's callbacks to an async iterator, without dropping or reordering parts. */
export function createPartChannel(): PartChannel {
  const buffer: ChatStreamPart[] = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;

  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  return {
    push(part) {
      if (done) return;
      buffer.push(part);
      notify();
    },
    close() {
      done = true;
      notify();
    },
    fail(error) {
      failure ??= { error };
      done = true;
      notify();
    },
    async *drain() {
      while (true) {
        const next = buffer.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (done) {
          if (failure !== undefined) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
