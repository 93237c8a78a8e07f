import { BastionError } from "../core/errors.ts";

export interface AbortLink {
  readonly signal: AbortSignal;
  /** Aborts the work now (the client went away). */
  abort(): void;
  /** Detaches from the parent signal once the work is over. */
  dispose(): void;
}

/**
 * An AbortSignal for one backend call that fires when the HTTP request's signal fires (the client
 * disconnected) or when `abort()` is called (e.g. the SSE stream was cancelled). Either way the
 * backend frees its llama.cpp sequence at once.
 */
export function createAbortLink(parent: AbortSignal): AbortLink {
  const controller = new AbortController();
  const abort = () => {
    if (!controller.signal.aborted) {
      controller.abort(new BastionError("cancelled", "The client closed the connection."));
    }
  };
  if (parent.aborted) abort();
  else parent.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    abort,
    dispose: () => parent.removeEventListener("abort", abort),
  };
}
