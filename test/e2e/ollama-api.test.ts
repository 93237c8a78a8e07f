import { Ollama } from "ollama";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scriptedChain } from "../../src/models/scripted.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

// One real server for the file: llama.cpp on synthetic models, driven through the `ollama` client.
let server: TestServer;
let ollama: Ollama;

beforeAll(async () => {
  server = await startTestServer({
    models: [
      { id: "tiny", preset: "tiny", aliases: ["tiny-alias"], parallel: 2 },
      { id: "scripted", preset: "scripted", parallel: 1 },
    ],
  });
  ollama = new Ollama({ host: server.baseUrl });
});

afterAll(async () => {
  await server?.close();
});

const ask = {
  model: "scripted",
  messages: [{ role: "user", content: "Bonjour ?" }],
  options: { temperature: 0 },
};

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", enum: ["Paris", "Berlin"] } },
      required: ["city"],
    },
  },
};

async function rawPost(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("/api/chat and /api/generate through the ollama client", () => {
  it("answers with thinking apart, counts and nanosecond durations", async () => {
    const response = await ollama.chat(ask);
    expect(response.model).toBe("scripted");
    expect(response.done).toBe(true);
    expect(response.done_reason).toBe("stop");
    expect(response.message.role).toBe("assistant");
    expect(response.message.thinking).toBe(scriptedChain.thoughtText);
    expect(response.message.content).toBe(scriptedChain.answerText);
    expect(response.prompt_eval_count).toBeGreaterThan(3);
    // The thought, its two markers and the answer.
    expect(response.eval_count).toBe(scriptedChain.thoughtTokens + 2 + scriptedChain.answerTokens);
    expect(response.total_duration).toBeGreaterThan(0);
    expect(response.total_duration).toBeGreaterThanOrEqual(response.eval_duration);
    expect(response.total_duration).toBeGreaterThanOrEqual(response.prompt_eval_duration);
    expect(Number.isInteger(response.total_duration)).toBe(true);
    expect(Number.isNaN(Date.parse(String(response.created_at)))).toBe(false);
  });

  it("streams thinking then content as NDJSON, ending with one done object", async () => {
    const stream = await ollama.chat({ ...ask, stream: true });
    let thinking = "";
    let content = "";
    const done: unknown[] = [];
    for await (const chunk of stream) {
      thinking += chunk.message.thinking ?? "";
      content += chunk.message.content;
      if (chunk.done) done.push(chunk);
    }
    expect(thinking).toBe(scriptedChain.thoughtText);
    expect(content).toBe(scriptedChain.answerText);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ done_reason: "stop", eval_count: 14 });
  });

  it("streams by default, as Ollama does, with evidence headers and NDJSON content type", async () => {
    const response = await rawPost("/api/chat", { model: "scripted", messages: ask.messages });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/x-ndjson/);
    expect(response.headers.get("x-bastion-backend")).toBe("scripted");
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.slice(0, -1).every((line) => line.done === false)).toBe(true);
    expect(lines.at(-1)).toMatchObject({ done: true, bastion: { backend: "scripted" } });
  });

  it("turns the thought off with think: false", async () => {
    const response = await ollama.chat({ ...ask, think: false });
    expect(response.message.thinking ?? "").toBe("");
    expect(response.message.content).toBe(scriptedChain.answerText);
  });

  it("applies options.stop and options.num_predict exactly", async () => {
    const stopped = await ollama.chat({ ...ask, options: { temperature: 0, stop: [" jour"] } });
    expect(stopped.message.content).toBe("Bon");
    expect(stopped.done_reason).toBe("stop");
    const cut = await ollama.chat({ ...ask, options: { temperature: 0, num_predict: 4 } });
    expect(cut.done_reason).toBe("length");
    expect(cut.eval_count).toBe(4);
  });

  it("stops at the context's end when num_predict asks for more than fits", async () => {
    const words = (count: number) => Array.from({ length: count }, () => "river").join(" ");
    const probe = await ollama.generate({
      model: "tiny",
      prompt: words(1000),
      think: false,
      options: { num_predict: 1 },
    });
    const count = 1000 + (2048 - 5 - probe.prompt_eval_count);
    const response = await ollama.generate({
      model: "tiny",
      prompt: words(count),
      think: false,
      options: { num_predict: 100_000, temperature: 0 },
    });
    expect(response.prompt_eval_count).toBe(2043);
    expect(response.done_reason).toBe("length");
    expect(response.eval_count).toBe(5);
  });

  it("generates from a prompt and a system, streamed and not", async () => {
    const response = await ollama.generate({ model: "scripted", prompt: "Bonjour ?", system: "Sois bref." });
    expect(response.response).toBe(scriptedChain.answerText);
    expect(response.thinking).toBe(scriptedChain.thoughtText);
    expect(response.done_reason).toBe("stop");
    const stream = await ollama.generate({ model: "scripted", prompt: "Bonjour ?", stream: true });
    let text = "";
    let last: { done: boolean; eval_count?: number } | undefined;
    for await (const chunk of stream) {
      text += chunk.response;
      last = chunk;
    }
    expect(text).toBe(scriptedChain.answerText);
    expect(last).toMatchObject({ done: true, eval_count: 14 });
  });

  it("constrains output with format 'json' and with a JSON schema", async () => {
    const json = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "JSON please" }],
      format: "json",
      think: false,
      options: { num_predict: 48, seed: 1 },
    });
    // The grammar makes the first character a brace; a random model may still run out of tokens.
    expect(json.message.content.trimStart()[0]).toBe("{");
    if (json.done_reason === "stop") expect(() => JSON.parse(json.message.content)).not.toThrow();
    const schema = {
      type: "object",
      properties: { verdict: { type: "string", enum: ["yes", "no"] } },
      required: ["verdict"],
      additionalProperties: false,
    };
    const structured = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Verdict?" }],
      format: schema,
      think: false,
      options: { num_predict: 64, seed: 2 },
    });
    expect(structured.done_reason).toBe("stop");
    expect(["yes", "no"]).toContain((JSON.parse(structured.message.content) as { verdict: string }).verdict);
  });

  it("shows tools to the model and takes tool calls and results back in history", async () => {
    const plain = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Weather?" }],
      options: { num_predict: 1 },
    });
    const withTools = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
      options: { num_predict: 1 },
    });
    // The tools' names, descriptions and parameters are in the prompt.
    expect(withTools.prompt_eval_count).toBeGreaterThan(plain.prompt_eval_count + 20);
    const history = await ollama.chat({
      model: "tiny",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: "",
          tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }],
        },
        { role: "tool", content: '{"temperature": 21}', tool_name: "get_weather" },
      ],
      tools: [weatherTool],
      options: { num_predict: 2 },
    });
    expect(history.done).toBe(true);
    expect(history.prompt_eval_count).toBeGreaterThan(withTools.prompt_eval_count);
  });

  it("loads a model on an empty request and resolves ':latest' names", async () => {
    const loaded = await rawPost("/api/generate", { model: "tiny:latest" });
    expect(await loaded.json()).toMatchObject({
      model: "tiny",
      done: true,
      done_reason: "load",
      response: "",
    });
    const chat = await ollama.chat({ model: "tiny-alias:latest", messages: [], stream: false });
    expect(chat).toMatchObject({ model: "tiny", done_reason: "load" });
  });
});

describe("/api/embed, /api/embeddings and the model routes", () => {
  it("embeds unit vectors, shortens them with dimensions, and keeps the legacy route", async () => {
    const response = await ollama.embed({ model: "tiny", input: ["bonjour", "hallo"] });
    expect(response.model).toBe("tiny");
    expect(response.embeddings).toHaveLength(2);
    const norm = (vector: number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
    expect(response.embeddings[0]!.length).toBe(64);
    expect(norm(response.embeddings[0]!)).toBeCloseTo(1, 4);
    expect(response.prompt_eval_count).toBeGreaterThan(1);
    const short = await ollama.embed({ model: "tiny", input: "bonjour", dimensions: 16 });
    expect(short.embeddings[0]!.length).toBe(16);
    expect(norm(short.embeddings[0]!)).toBeCloseTo(1, 4);
    const legacy = await ollama.embeddings({ model: "tiny", prompt: "bonjour" });
    expect(legacy.embedding.length).toBe(64);
    // Same direction as the normalised vector: the legacy route returns the raw one.
    const scaled = legacy.embedding.map((value) => value / norm(legacy.embedding));
    expect(scaled[0]).toBeCloseTo(response.embeddings[0]![0]!, 4);
  });

  it("lists, shows and reports running models and the version", async () => {
    const list = await ollama.list();
    expect(list.models.map((model) => model.name)).toEqual(["tiny", "scripted"]);
    const tiny = list.models[0]!;
    expect(tiny.size).toBeGreaterThan(0);
    expect(tiny.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(tiny.details).toMatchObject({ format: "gguf", family: "qwen2", quantization_level: "Q8_0" });
    const show = await ollama.show({ model: "scripted" });
    expect(show.capabilities).toEqual(expect.arrayContaining(["completion", "tools", "thinking"]));
    expect(show.parameters).toBe("num_ctx 2048");
    expect((show.model_info as unknown as Record<string, unknown>)["general.architecture"]).toBe("qwen2");
    const running = await ollama.ps();
    expect(running.models.map((model) => model.name)).toContain("scripted");
    const version = await ollama.version();
    expect(version.version).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("errors in Ollama's shape", () => {
  it("answers 404 for an unknown model, through the client and raw", async () => {
    const error = (await ollama
      .chat({ model: "nope", messages: ask.messages })
      .catch((caught) => caught)) as {
      status_code: number;
      error: string;
    };
    expect(error.status_code).toBe(404);
    expect(error.error).toMatch(/'nope' does not exist/);
    const raw = await rawPost("/api/show", { model: "nope" });
    expect(raw.status).toBe(404);
    expect(Object.keys((await raw.json()) as object)).toEqual(["error"]);
  });

  it("answers 400 naming the field for a bad body, bad JSON and refused features", async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ["/api/chat", { model: "tiny", messages: "hi" }, /messages/],
      ["/api/chat", { model: "tiny", messages: ask.messages, options: { num_predict: 0 } }, /num_predict/],
      ["/api/chat", "{not json", /not valid JSON/],
      ["/api/generate", { model: "tiny", prompt: "x", raw: true }, /raw/],
      ["/api/generate", { model: "tiny", prompt: "x", logprobs: true }, /logprobs/],
      // The engine's schema check names the field as Ollama spells it.
      [
        "/api/generate",
        { model: "tiny", prompt: "x", format: { type: "object", properties: { a: { anyOf: [] } } } },
        /^format\.properties\.a\.anyOf must be a non-empty array/,
      ],
      [
        "/api/chat",
        { model: "tiny", messages: [...ask.messages, { role: "assistant", content: "B" }] },
        /prefill/,
      ],
      ["/api/embed", { model: "tiny", input: [] }, /input/],
      ["/api/embed", { model: "tiny", input: "x", dimensions: 65 }, /at most 64/],
    ];
    for (const [path, body, message] of cases) {
      const response = await rawPost(path, body);
      expect(response.status, path).toBe(400);
      const error = (await response.json()) as { error: string };
      expect(Object.keys(error)).toEqual(["error"]);
      expect(error.error).toMatch(message);
    }
  });

  it("answers 405 and 415 in Ollama's shape, and 501 for model management", async () => {
    const wrongMethod = await fetch(`${server.baseUrl}/api/chat`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(((await wrongMethod.json()) as { error: string }).error).toMatch(/GET/);
    const multipart = await rawPost("/api/chat", "{}", { "content-type": "multipart/form-data; boundary=x" });
    expect(multipart.status).toBe(415);
    expect(Object.keys((await multipart.json()) as object)).toEqual(["error"]);
    const pull = await rawPost("/api/pull", { model: "llama3" });
    expect(pull.status).toBe(501);
    expect(((await pull.json()) as { error: string }).error).toMatch(/bastion pull/);
  });
});
