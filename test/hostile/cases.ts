/**
 * Malformed and hostile requests, each with the answer the API owes it. The same list runs against
 * the wire layer with a scripted backend (`hostile.test.ts`) and against the real engine server
 * (`runHostileCases`). Bodies that need a servable model are functions of its id.
 */

export type HostileBody = string | Uint8Array | Record<string, unknown> | unknown[] | null;

export interface HostileCase {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** The body as sent: a string or bytes verbatim, anything else as JSON; a function gets the valid model id. */
  body?: HostileBody | ((model: string) => HostileBody);
  /** Send the body as a stream (chunked transfer encoding, no Content-Length). */
  chunked?: boolean;
  /** One status, or the statuses that are all right (e.g. 200 here, 400 context overflow on a real model). */
  expectStatus: number | number[];
  expectCode?: string;
  /** The `param` of the error; `null` checks that it is null, absent skips the check. */
  expectParam?: string | null;
}

/** The default body limit of `createApp` (4 MiB); the oversized cases send more than this. */
export const hostileBodyLimit = 4 * 1024 * 1024;

const user = [{ role: "user", content: "Say hi." }];

/** A valid chat body for `model` with `extra` merged in; short answers keep real-engine runs fast. */
function chat(extra: Record<string, unknown>) {
  return (model: string) => ({ model, messages: user, max_tokens: 4, ...extra });
}

const json = { "content-type": "application/json" };
const chatPath = "/v1/chat/completions";

function post(
  name: string,
  body: NonNullable<HostileCase["body"]>,
  expectStatus: HostileCase["expectStatus"],
  expectCode?: string,
  expectParam?: string | null,
): HostileCase {
  const hostile: HostileCase = { name, method: "POST", path: chatPath, headers: json, body, expectStatus };
  if (expectCode !== undefined) hostile.expectCode = expectCode;
  if (expectParam !== undefined) hostile.expectParam = expectParam;
  return hostile;
}

const bad = (name: string, extra: Record<string, unknown>, param: string, code = "invalid_request") =>
  post(name, chat(extra), 400, code, param);

function oversizedBody(model: string): string {
  const filler = "x".repeat(hostileBodyLimit + 64 * 1024);
  return JSON.stringify({ model, messages: [{ role: "user", content: filler }] });
}

const depth = 100_000;

export const hostileCases: HostileCase[] = [
  // Bodies that are not a JSON object.
  post("invalid JSON", '{"model": "m", messages: []}', 400, "invalid_json"),
  post(
    "truncated JSON",
    (model) => `{"model": "${model}", "messages": [{"role": "user", "con`,
    400,
    "invalid_json",
  ),
  post("empty body", "", 400, "invalid_json"),
  post("JSON array body", "[]", 400, "invalid_request"),
  post("JSON string body", '"hello"', 400, "invalid_request"),
  post("JSON null body", "null", 400, "invalid_request"),
  post(
    "invalid UTF-8 bytes",
    (model) =>
      Buffer.concat([
        Buffer.from(`{"model":"${model}","messages":[{"role":"user","content":"`),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('"}]}'),
      ]),
    400,
    "invalid_json",
  ),
  post(
    "raw NUL byte inside a JSON string",
    (model) => `{"model":"${model}","messages":[{"role":"user","content":"a\u0000b"}]}`,
    400,
    "invalid_json",
  ),
  post(
    "nesting 100k levels deep",
    (model) =>
      `{"model":"${model}","messages":[{"role":"user","content":"x"}],"extra":${"[".repeat(depth)}${"]".repeat(depth)}}`,
    400,
    "invalid_json",
  ),
  // Content type, method, route.
  {
    name: "text/plain content type",
    method: "POST",
    path: chatPath,
    headers: { "content-type": "text/plain" },
    body: chat({}),
    expectStatus: 415,
    expectCode: "unsupported_media_type",
  },
  {
    name: "form-urlencoded content type",
    method: "POST",
    path: chatPath,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "model=m",
    expectStatus: 415,
    expectCode: "unsupported_media_type",
  },
  {
    name: "GET on a POST route",
    method: "GET",
    path: chatPath,
    expectStatus: 405,
    expectCode: "method_not_allowed",
  },
  {
    name: "PUT on /v1/models",
    method: "PUT",
    path: "/v1/models",
    headers: json,
    body: {},
    expectStatus: 405,
    expectCode: "method_not_allowed",
  },
  {
    name: "GET on /v1/embeddings",
    method: "GET",
    path: "/v1/embeddings",
    expectStatus: 405,
    expectCode: "method_not_allowed",
  },
  { name: "unknown route", method: "GET", path: "/v1/engines", expectStatus: 404, expectCode: "not_found" },
  {
    name: "unknown model by path",
    method: "GET",
    path: "/v1/models/no-such-model",
    expectStatus: 404,
    expectCode: "model_not_found",
  },
  {
    name: "broken percent-encoding in a model path",
    method: "GET",
    path: "/v1/models/%E0%A4%A",
    expectStatus: [400, 404],
  },
  // Size.
  post("body over the limit (Content-Length)", oversizedBody, 413, "payload_too_large"),
  { ...post("body over the limit (chunked)", oversizedBody, 413, "payload_too_large"), chunked: true },
  // model and messages.
  post("missing model", { messages: user }, 400, "invalid_request", "model"),
  post("model is a number", { model: 42, messages: user }, 400, "invalid_request", "model"),
  post("unknown model", { model: "no-such-model", messages: user }, 404, "model_not_found", "model"),
  post(
    "100k-character model name",
    { model: "m".repeat(100_000), messages: user },
    404,
    "model_not_found",
    "model",
  ),
  post("missing messages", (model) => ({ model }), 400, "invalid_request", "messages"),
  bad("empty messages", { messages: [] }, "messages"),
  bad("messages is an object", { messages: { role: "user", content: "x" } }, "messages"),
  bad("null message", { messages: [null] }, "messages[0]"),
  bad("unknown role", { messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"),
  bad(
    "deprecated function role",
    { messages: [{ role: "function", name: "f", content: "x" }] },
    "messages[0].role",
  ),
  bad("content is a number", { messages: [{ role: "user", content: 5 }] }, "messages[0].content"),
  bad("user content null", { messages: [{ role: "user", content: null }] }, "messages[0].content"),
  bad(
    "text part without text",
    { messages: [{ role: "user", content: [{ type: "text" }] }] },
    "messages[0].content[0].text",
  ),
  bad(
    "image part",
    {
      messages: [
        { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
      ],
    },
    "messages[0].content[0].type",
    "unsupported_parameter",
  ),
  bad(
    "tool message without tool_call_id",
    { messages: [...user, { role: "tool", content: "42" }] },
    "messages[1].tool_call_id",
  ),
  bad(
    "tool call arguments are a number",
    {
      messages: [
        ...user,
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: 5 } }],
        },
      ],
    },
    "messages[1].tool_calls[0].function.arguments",
  ),
  // Lengths and sampling.
  bad("negative max_tokens", { max_tokens: -1 }, "max_tokens"),
  bad("zero max_tokens", { max_tokens: 0 }, "max_tokens"),
  bad("fractional max_tokens", { max_tokens: 1.5 }, "max_tokens"),
  bad("huge max_tokens", { max_tokens: 1e300 }, "max_tokens"),
  bad("max_tokens as a string", { max_tokens: "10" }, "max_tokens"),
  bad("negative max_completion_tokens", { max_completion_tokens: -5 }, "max_completion_tokens"),
  bad("temperature 5", { temperature: 5 }, "temperature"),
  bad("temperature as a string", { temperature: "hot" }, "temperature"),
  bad("top_p 0", { top_p: 0 }, "top_p"),
  bad("top_p 1.5", { top_p: 1.5 }, "top_p"),
  bad("presence_penalty 3", { presence_penalty: 3 }, "presence_penalty"),
  bad("frequency_penalty -3", { frequency_penalty: -3 }, "frequency_penalty"),
  bad("fractional seed", { seed: 1.5 }, "seed"),
  bad("n=2", { n: 2 }, "n", "unsupported_parameter"),
  bad("n=0", { n: 0 }, "n"),
  bad("five stop sequences", { stop: ["a", "b", "c", "d", "e"] }, "stop"),
  bad("stop is a number", { stop: 7 }, "stop"),
  bad("stream is a string", { stream: "yes" }, "stream"),
  bad("stream_options is a string", { stream: true, stream_options: "usage" }, "stream_options"),
  bad("logprobs requested", { logprobs: true }, "logprobs", "unsupported_parameter"),
  bad("deprecated functions", { functions: [{ name: "f" }] }, "functions", "unsupported_parameter"),
  // Formats and tools.
  bad("response_format xml", { response_format: { type: "xml" } }, "response_format.type"),
  bad(
    "json_schema without name",
    { response_format: { type: "json_schema", json_schema: { schema: {} } } },
    "response_format.json_schema.name",
  ),
  bad(
    "json_schema schema is a string",
    { response_format: { type: "json_schema", json_schema: { name: "x", schema: "{}" } } },
    "response_format.json_schema.schema",
  ),
  bad("tools is an object", { tools: { type: "function" } }, "tools"),
  bad("tool of type retrieval", { tools: [{ type: "retrieval" }] }, "tools[0].type"),
  bad(
    "tool parameters are an array",
    { tools: [{ type: "function", function: { name: "f", parameters: [] } }] },
    "tools[0].function.parameters",
  ),
  bad(
    "tool parameters of type string",
    { tools: [{ type: "function", function: { name: "f", parameters: { type: "string" } } }] },
    "tools[0].function.parameters.type",
  ),
  bad(
    "tool name with spaces",
    { tools: [{ type: "function", function: { name: "get weather" } }] },
    "tools[0].function.name",
  ),
  bad(
    "tool_choice names a missing tool",
    {
      tools: [{ type: "function", function: { name: "f" } }],
      tool_choice: { type: "function", function: { name: "g" } },
    },
    "tool_choice.function.name",
  ),
  bad("tool_choice required without tools", { tool_choice: "required" }, "tool_choice"),
  bad("tool_choice sometimes", { tool_choice: "sometimes" }, "tool_choice"),
  bad("reasoning_effort extreme", { reasoning_effort: "extreme" }, "reasoning_effort"),
  bad("negative max_reasoning_tokens", { max_reasoning_tokens: -1 }, "max_reasoning_tokens"),
  // Embeddings.
  {
    name: "embeddings input is a number",
    method: "POST",
    path: "/v1/embeddings",
    headers: json,
    body: (model) => ({ model, input: 5 }),
    expectStatus: 400,
    expectParam: "input",
  },
  {
    name: "embeddings of token arrays",
    method: "POST",
    path: "/v1/embeddings",
    headers: json,
    body: (model) => ({ model, input: [[1, 2, 3]] }),
    expectStatus: 400,
    expectCode: "unsupported_parameter",
  },
  // Tolerated: these must succeed (or, on a real model, fail cleanly for a stated reason).
  post(
    "unknown top-level fields are ignored",
    chat({ store: false, metadata: { a: "b" }, future_field: [1, 2] }),
    200,
  ),
  post("null optional fields", chat({ temperature: null, stop: null, tools: null, seed: null }), 200),
  post(
    "escaped NUL and control characters in content",
    (model) => ({ model, max_tokens: 4, messages: [{ role: "user", content: "a\u0000b\u0001c\u001f" }] }),
    200,
  ),
  post(
    "lone surrogate in content",
    (model) => `{"model":"${model}","max_tokens":4,"messages":[{"role":"user","content":"x\\ud800y"}]}`,
    200,
  ),
  post(
    "__proto__ and constructor keys",
    (model) =>
      `{"model":"${model}","max_tokens":4,"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"messages":[{"role":"user","content":"x","__proto__":{"polluted":true}}]}`,
    200,
  ),
  post(
    "10k messages",
    (model) => ({
      model,
      max_tokens: 4,
      messages: Array.from({ length: 10_000 }, (_, index) => ({
        role: index % 2 === 0 ? "user" : "assistant",
        content: "hi",
      })),
    }),
    [200, 400],
  ),
];
