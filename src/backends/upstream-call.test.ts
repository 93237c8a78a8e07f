import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { upstreamCall } from "./upstream-call.ts";

let server: Server;
let pool: Pool;
const sockets = new Set<unknown>();
let closedResponses = 0;
/** Responses of `/hold`, written to by the tests. */
const held: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    response.on("close", () => {
      if (!response.writableFinished) closedResponses++;
    });
    if (request.url === "/hold") {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("data: first\n\n");
      held.push(response);
      return;
    }
    if (request.url === "/many") {
      response.writeHead(200, { "content-type": "text/plain" });
      for (let index = 0; index < 100; index++) response.write(`${"x".repeat(1000)}\n`);
      response.end();
      return;
    }
    response.writeHead(201, { "content-type": "application/json", "x-extra": "yes" });
    response.end('{"ok":true}');
  });
  server.on("connection", (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
});

afterAll(async () => {
  for (const response of held) response.destroy();
  await pool.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function text(body: AsyncIterable<Buffer>): Promise<string> {
  let out = "";
  for await (const chunk of body) out += chunk.toString();
  return out;
}

describe("upstreamCall", () => {
  it("gives status, headers and body, and keeps the connection for the next call", async () => {
    const before = sockets.size;
    for (let round = 0; round < 2; round++) {
      const response = await upstreamCall(
        pool,
        { path: "/json", method: "POST", body: "{}" },
        new AbortController().signal,
      );
      expect(response.statusCode).toBe(201);
      expect(response.headers["x-extra"]).toBe("yes");
      expect(await text(response.body)).toBe('{"ok":true}');
      expect(response.body.finished).toBe(true);
    }
    expect(sockets.size - before).toBeLessThanOrEqual(1);
  });

  it("reads a body larger than its pause threshold in full", async () => {
    const response = await upstreamCall(pool, { path: "/many", method: "GET" }, new AbortController().signal);
    expect((await text(response.body)).length).toBe(100 * 1001);
  });

  it("rejects with the signal's reason when aborted before the call", async () => {
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await expect(upstreamCall(pool, { path: "/json", method: "GET" }, controller.signal)).rejects.toThrow(
      "gone",
    );
  });

  it("ends the call when the signal aborts mid-body, and when the reader leaves early", async () => {
    const closedBefore = closedResponses;
    const controller = new AbortController();
    const response = await upstreamCall(pool, { path: "/hold", method: "GET" }, controller.signal);
    const iterator = response.body[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.toString()).toBe("data: first\n\n");
    const pending = iterator.next();
    controller.abort(new Error("client left"));
    await expect(pending).rejects.toThrow();
    expect(response.body.finished).toBe(true);

    const second = await upstreamCall(pool, { path: "/hold", method: "GET" }, new AbortController().signal);
    for await (const chunk of second.body) {
      expect(chunk.toString()).toBe("data: first\n\n");
      break;
    }
    expect(second.body.finished).toBe(true);
    const deadline = Date.now() + 2_000;
    while (closedResponses - closedBefore < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closedResponses - closedBefore).toBe(2);
  });
});
