import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, errors as undiciErrors } from "undici";

/** An upstream response whose body is read chunk by chunk. */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

/** The body as it arrives: iterate it once; a transport error is thrown from the iteration. */
export interface UpstreamBody extends AsyncIterable<Buffer> {
  /** True once the whole body arrived, or the call was aborted or failed. */
  readonly finished: boolean;
  /** Stops the call (closes its connection) unless it has finished. */
  abort(): void;
}

/** Unread chunks above which the connection is paused until the reader catches up. */
const pauseAbove = 16;

/**
 * One request through an undici dispatcher with a handler of its own, instead of
 * `dispatcher.request()`: no AsyncResource scope per chunk, no Readable stream and no async
 * iterator over it between the socket and the reader, only a queue of chunks. Timeouts and
 * connection errors are the dispatcher's, as with `request()`; `signal` aborts the call (before
 * its response too, which then rejects with the signal's reason, as `request()` does).
 */
export function upstreamCall(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: AbortSignal,
): Promise<UpstreamResponse> {
  if (signal.aborted) return Promise.reject(signal.reason ?? new undiciErrors.RequestAbortedError());
  return new Promise((resolve, reject) => {
    const call = new Call(signal, resolve, reject);
    try {
      dispatcher.dispatch(options, call);
    } catch (error) {
      call.onResponseError(undefined, error as Error);
    }
  });
}

class Call implements Dispatcher.DispatchHandler, UpstreamBody {
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  #resolve: ((response: UpstreamResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  readonly #signal: AbortSignal;
  readonly #chunks: Buffer[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  readonly #onAbort = () => this.#stop(this.#signal.reason ?? new undiciErrors.RequestAbortedError());

  constructor(
    signal: AbortSignal,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  get finished(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  abort(): void {
    if (!this.finished) this.#stop(new undiciErrors.RequestAbortedError());
  }

  #stop(reason: Error): void {
    if (this.#controller === undefined) {
      // Not started yet: remembered for onRequestStart, and settled here (undici answers an abort
      // of a started call with onResponseError).
      this.#abortReason = reason;
      this.onResponseError(undefined, reason);
    } else if (!this.#controller.aborted) this.#controller.abort(reason);
  }

  #settle(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // 1xx informational responses: the final one follows.
    if (statusCode < 200) return;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve?.({ statusCode, headers, body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished) return;
    this.#chunks.push(chunk);
    if (this.#chunks.length > pauseAbove && !controller.paused) controller.pause();
    this.#notify();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.finished) return;
    this.#error = error;
    const reject = this.#reject;
    this.#resolve = undefined;
    this.#reject = undefined;
    reject?.(error);
    this.#settle();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        for (;;) {
          const chunk = this.#chunks.shift();
          if (chunk !== undefined) {
            if (this.#controller?.paused === true && this.#chunks.length <= pauseAbove / 2)
              this.#controller.resume();
            return { done: false, value: chunk };
          }
          if (this.#error !== undefined) throw this.#error;
          if (this.#ended) return { done: true, value: undefined };
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
        }
      },
      // Leaving a `for await` early stops the call, as it destroys a Readable body.
      return: async (): Promise<IteratorResult<Buffer>> => {
        this.abort();
        return { done: true, value: undefined };
      },
    };
  }
}
