/** Where a streaming route writes its SSE text; what Hono's `SSEStreamingApi` offered the route. */
export interface SseSink {
  /** True once the client has gone away (the response body was cancelled). */
  readonly aborted: boolean;
  /** Queues `text`; resolves once the reader is ready for more (backpressure), at once after an abort. */
  write(text: string): Promise<void>;
  /** Runs `listener` when the client goes away. */
  onAbort(listener: () => void): void;
}

const encoder = new TextEncoder();

/**
 * A response body that `produce` writes SSE text into, closed when `produce` settles. One
 * ReadableStream that node-server reads straight from, where Hono's `streamSSE` puts a
 * TransformStream and a second ReadableStream between the writer and the socket (three web-stream
 * hops and their promises per write). Backpressure as there: a write waits while a chunk is
 * still unread. An error `produce` lets escape is logged, as `streamSSE` did, and ends the body.
 */
export function sseBody(produce: (sink: SseSink) => Promise<void>): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let aborted = false;
  const abortListeners: Array<() => void> = [];
  let waiting: Array<() => void> = [];
  const wake = () => {
    const resolvers = waiting;
    waiting = [];
    for (const resolve of resolvers) resolve();
  };
  const sink: SseSink = {
    get aborted() {
      return aborted;
    },
    async write(text) {
      if (closed) return;
      controller.enqueue(encoder.encode(text));
      if ((controller.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => waiting.push(resolve));
    },
    onAbort(listener) {
      abortListeners.push(listener);
    },
  };
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
    },
    pull: wake,
    cancel() {
      closed = true;
      aborted = true;
      for (const listener of abortListeners) {
        try {
          listener();
        } catch {
          // One listener's failure does not keep the others from running.
        }
      }
      wake();
    },
  });
  void produce(sink)
    .catch((error: unknown) => console.error(error))
    .finally(() => {
      if (closed) return;
      closed = true;
      controller.close();
      wake();
    });
  return body;
}
