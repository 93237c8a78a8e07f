import { describe, expect, it } from "vitest";
import { sseBody } from "./sse-body.ts";

const decoder = new TextDecoder();

describe("sseBody", () => {
  it("delivers the writes in order and closes when the producer is done", async () => {
    const body = sseBody(async (sink) => {
      await sink.write("data: a\n\n");
      await sink.write("data: b\n\n");
    });
    expect(await new Response(body).text()).toBe("data: a\n\ndata: b\n\n");
  });

  it("holds a write while the previous chunk is unread (backpressure)", async () => {
    let secondWritten = false;
    const body = sseBody(async (sink) => {
      await sink.write("one");
      await sink.write("two");
      secondWritten = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Nobody reads: the first chunk waits in the queue and the second write with it.
    expect(secondWritten).toBe(false);
    const reader = body.getReader();
    expect(decoder.decode((await reader.read()).value)).toBe("one");
    expect(decoder.decode((await reader.read()).value)).toBe("two");
    expect((await reader.read()).done).toBe(true);
    expect(secondWritten).toBe(true);
  });

  it("tells the producer when the client goes away and lets its pending write return", async () => {
    let aborted = false;
    let finished = false;
    const body = sseBody(async (sink) => {
      sink.onAbort(() => {
        aborted = true;
      });
      await sink.write("one");
      await sink.write("two");
      expect(sink.aborted).toBe(true);
      await sink.write("after the client left");
      finished = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await body.cancel();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted).toBe(true);
    expect(finished).toBe(true);
  });
});
