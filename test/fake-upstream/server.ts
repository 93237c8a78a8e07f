import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/*
 * A recording fake of a remote OpenAI-compatible provider, on loopback. What it does is chosen by
 * the model name the gateway sends (so one server can act several ways at once):
 *   echo (default)      streams the last user message back in 5-character pieces, so that any
 *                       placeholder is split across chunks, with usage;
 *   reasoning-content   a thought in `reasoning_content` (DeepSeek, llama.cpp), then the echo;
 *   reasoning-field     the same in vLLM's `reasoning`;
 *   think-tags          `<think>…</think>` inside `content`, tags cut across chunks;
 *   tools               a tool call whose arguments (JSON, in deltas) carry the echo;
 *   json                ignores `stream` and answers one JSON completion;
 *   status-500 | hang | reset | non-json | truncated | wrong-type | error-inside | bad-json-body
 *                       broken upstreams;
 *   flaky-N             HTTP 500 for the first N calls, then echo;
 *   slow                a piece every 50 ms for 10 s (marks the request `abandoned` if cut).
 * `healthy = false` makes `GET /models` answer 503; `down = true` makes every request reset.
 */

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  /** The raw body text: what left Bastion, byte for byte. */
  body: string;
  json: Record<string, unknown> | undefined;
  /** Set when the client closed the connection before the answer ended. */
  abandoned?: boolean;
}

export interface FakeUpstream {
  url: string;
  /** The OpenAI API root to configure as `baseUrl`. */
  baseUrl: string;
  readonly requests: RecordedRequest[];
  healthy: boolean;
  down: boolean;
  /** Calls per model name so far. */
  calls(model: string): number;
  close(): Promise<void>;
}

function lastUserText(json: Record<string, unknown> | undefined): string {
  const messages = Array.isArray(json?.messages)
    ? (json.messages as Array<{ role: string; content: unknown }>)
    : [];
  const user = [...messages].reverse().find((message) => message.role === "user");
  return typeof user?.content === "string" ? user.content : "";
}

function pieces(text: string, size = 5): string[] {
  const out: string[] = [];
  for (const char of Array.from(text)) {
    const last = out.at(-1);
    if (last !== undefined && Array.from(last).length < size) out[out.length - 1] = last + char;
    else out.push(char);
  }
  return out;
}

const usage = {
  prompt_tokens: 11,
  completion_tokens: 7,
  total_tokens: 18,
  completion_tokens_details: { reasoning_tokens: 2 },
};

function chunk(
  model: string,
  delta: Record<string, unknown>,
  finish: string | null = null,
  withUsage = false,
) {
  return `data: ${JSON.stringify({
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(withUsage ? { usage } : {}),
  })}\n\n`;
}

/** Starts a fake upstream on 127.0.0.1 and an ephemeral port. */
export async function startFakeUpstream(options: { name?: string } = {}): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const state = { healthy: true, down: false };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const body: Buffer[] = [];
    request.on("data", (data: Buffer) => body.push(data));
    request.on("end", () => {
      const text = Buffer.concat(body).toString("utf8");
      let json: Record<string, unknown> | undefined;
      try {
        json = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        json = undefined;
      }
      const path = (request.url ?? "/").replace(/^\/v1/, "");
      requests.push({ path, headers: request.headers, body: text, json });
      if (state.down) {
        request.socket.destroy();
        return;
      }
      if (request.method === "GET" && path === "/models") {
        response.writeHead(state.healthy ? 200 : 503, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            object: "list",
            data: [{ id: "echo", object: "model", owned_by: options.name ?? "fake" }],
          }),
        );
        return;
      }
      if (path === "/embeddings") {
        const inputs = Array.isArray(json?.input) ? (json.input as string[]) : [String(json?.input ?? "")];
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            object: "list",
            data: inputs.map((input, index) => ({
              object: "embedding",
              index,
              embedding: [input.length, 0.5, -1],
            })),
            usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
          }),
        );
        return;
      }
      const model = typeof json?.model === "string" ? json.model : "echo";
      const count = (counts.get(model) ?? 0) + 1;
      counts.set(model, count);
      respond(model, count, json, response, request);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  function respond(
    model: string,
    count: number,
    json: Record<string, unknown> | undefined,
    response: ServerResponse,
    request: IncomingMessage,
  ): void {
    const echo = `You said: ${lastUserText(json)}`;
    const sse = () =>
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const streamEcho = (prefix: Array<Record<string, unknown>> = []) => {
      sse();
      for (const delta of prefix) response.write(chunk(model, delta));
      for (const piece of pieces(echo)) response.write(chunk(model, { content: piece }));
      response.write(chunk(model, {}, "stop"));
      response.write(
        `data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", choices: [], usage })}\n\n`,
      );
      response.end("data: [DONE]\n\n");
    };
    const flaky = /^flaky-(\d+)$/.exec(model);
    if (flaky !== null && count <= Number(flaky[1])) {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "temporary failure", type: "server_error" } }));
      return;
    }
    switch (model) {
      case "reasoning-content":
        streamEcho([{ reasoning_content: "Let me " }, { reasoning_content: "think." }]);
        return;
      case "reasoning-field":
        streamEcho([{ reasoning: "Let me " }, { reasoning: "think." }]);
        return;
      case "think-tags":
        sse();
        for (const piece of ["\n<thi", "nk>Let me ", "think.</th", "ink>\n\n", ...pieces(echo)]) {
          response.write(chunk(model, { content: piece }));
        }
        response.write(chunk(model, {}, "stop", true));
        response.end("data: [DONE]\n\n");
        return;
      case "tools": {
        sse();
        const argumentsText = JSON.stringify({ note: echo });
        response.write(
          chunk(model, {
            tool_calls: [
              { index: 0, id: "call_1", type: "function", function: { name: "save_note", arguments: "" } },
            ],
          }),
        );
        for (const piece of pieces(argumentsText, 6)) {
          response.write(chunk(model, { tool_calls: [{ index: 0, function: { arguments: piece } }] }));
        }
        response.write(chunk(model, {}, "tool_calls", true));
        response.end("data: [DONE]\n\n");
        return;
      }
      case "json":
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            id: "chatcmpl-fake",
            object: "chat.completion",
            model,
            choices: [
              {
                index: 0,
                message: { role: "assistant", content: echo, reasoning_content: "Hmm." },
                finish_reason: "stop",
              },
            ],
            usage,
          }),
        );
        return;
      case "status-500":
        response.writeHead(500, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { message: "upstream exploded", type: "server_error" } }));
        return;
      case "hang":
        // Headers never come; the gateway's first-byte timeout must end this.
        request.socket.setTimeout(0);
        return;
      case "reset":
        request.socket.destroy();
        return;
      case "non-json":
        sse();
        response.write("data: this is not json\n\n");
        response.end();
        return;
      case "truncated":
        sse();
        response.write(chunk(model, { content: "Half an ans" }));
        // Ends without a finish_reason nor [DONE].
        response.end();
        return;
      case "wrong-type":
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html><body>Login required</body></html>");
        return;
      case "bad-json-body":
        response.writeHead(200, { "content-type": "application/json" });
        response.end("{ not json");
        return;
      case "error-inside":
        sse();
        response.write(
          `data: ${JSON.stringify({ error: { message: "model overloaded", type: "server_error" } })}\n\n`,
        );
        response.end();
        return;
      case "slow": {
        // One piece every 50 ms for 10 s: long enough for a client to walk away.
        sse();
        const record = requests.at(-1)!;
        let sent = 0;
        const timer = setInterval(() => {
          response.write(chunk(model, { content: `piece ${sent++} ` }));
          if (sent === 200) {
            clearInterval(timer);
            response.write(chunk(model, {}, "stop", true));
            response.end("data: [DONE]\n\n");
          }
        }, 50);
        response.on("close", () => {
          clearInterval(timer);
          if (!response.writableEnded) record.abandoned = true;
        });
        return;
      }
      case "mid-stream-reset":
        sse();
        response.write(chunk(model, { content: "Partial" }));
        setTimeout(() => request.socket.destroy(), 20);
        return;
      default:
        streamEcho();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    get healthy() {
      return state.healthy;
    },
    set healthy(value: boolean) {
      state.healthy = value;
    },
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    calls: (model) => counts.get(model) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
