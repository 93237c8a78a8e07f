import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocumentsTestServer, startDocumentsTestServer } from "../../src/documents/testing.ts";

let server: DocumentsTestServer;
let client: OpenAI;
let storeId: string;
let greetingFileId: string;

// The scripted model always answers "Bon jour !" after a short thought: the greeting document
// below restates it, so sentence attribution must cite that file and no other.
const greeting = "Greetings in Lyon.\n\nVisitors are welcomed with bon jour at the front desk.";
const other = "Parking rules.\n\nThe garage closes at midnight.";

beforeAll(async () => {
  server = await startDocumentsTestServer({
    config: { assistants: [{ id: "lobby", model: "scripted", instructions: "Greet visitors." }] },
  });
  client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.a, maxRetries: 0 });
  const a = await client.files.create({
    file: await toFile(Buffer.from(greeting), "greeting.txt"),
    purpose: "assistants",
  });
  const b = await client.files.create({
    file: await toFile(Buffer.from(other), "parking.txt"),
    purpose: "assistants",
  });
  greetingFileId = a.id;
  const store = await client.vectorStores.create({ name: "kb", file_ids: [a.id, b.id] });
  storeId = store.id;
  await server.documents.service.idle();
});

afterAll(async () => {
  await server?.close();
});

/** A strict function tool whose arguments the grammar pins to two cities. */
const weatherTool = {
  type: "function",
  name: "get_weather",
  strict: true,
  parameters: {
    type: "object",
    properties: { city: { type: "string", enum: ["Paris", "Berlin"] } },
    required: ["city"],
    additionalProperties: false,
  },
} satisfies OpenAI.Responses.FunctionTool;

describe("the Responses API with file_search", () => {
  it("answers with a file_search call, its results and citations that point into the cited file", async () => {
    const response = await client.responses.create({
      model: "scripted",
      instructions: "Be brief.",
      input: "How are visitors welcomed at the front desk?",
      tools: [{ type: "file_search", vector_store_ids: [storeId], max_num_results: 2 }],
      include: ["file_search_call.results"],
    });
    expect(response.status).toBe("completed");
    const types = response.output.map((item) => item.type);
    expect(types).toEqual(["file_search_call", "reasoning", "message"]);
    const search = response.output[0] as OpenAI.Responses.ResponseFileSearchToolCall;
    expect(search.queries).toEqual(["How are visitors welcomed at the front desk?"]);
    expect(search.results?.length).toBeGreaterThan(0);
    expect(search.results?.some((result) => result.file_id === greetingFileId)).toBe(true);
    const message = response.output[2] as OpenAI.Responses.ResponseOutputMessage;
    const text = message.content[0] as OpenAI.Responses.ResponseOutputText;
    expect(text.text).toContain("Bon jour");
    expect(response.output_text).toBe(text.text);
    expect(text.annotations.length).toBeGreaterThan(0);
    for (const annotation of text.annotations) {
      expect(annotation.type).toBe("file_citation");
      const citation = annotation as OpenAI.Responses.ResponseOutputText.FileCitation;
      expect(citation.file_id).toBe(greetingFileId);
      expect(citation.filename).toBe("greeting.txt");
      expect(citation.index).toBeGreaterThan(0);
      expect(citation.index).toBeLessThanOrEqual(text.text.length);
      // The cited file really holds the sentence the citation closes.
      const cited = await (await client.files.content(citation.file_id)).text();
      const sentence = text.text
        .slice(0, citation.index)
        .replace(/[!.?\s]+$/, "")
        .toLowerCase();
      expect(cited.toLowerCase()).toContain(sentence.trim());
    }
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    const reasoning = response.output[1] as OpenAI.Responses.ResponseReasoningItem;
    expect(reasoning.content?.[0]?.text).toContain("think");
  });

  it("streams OpenAI's event sequence", async () => {
    const stream = await client.responses.create({
      model: "scripted",
      input: "How are visitors welcomed?",
      tools: [{ type: "file_search", vector_store_ids: [storeId] }],
      stream: true,
    });
    const events: string[] = [];
    let sequence = -1;
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      expect(event.sequence_number).toBe(sequence + 1);
      sequence = event.sequence_number;
      if (events.at(-1) !== event.type) events.push(event.type);
      if (event.type === "response.completed") completed = event.response;
    }
    expect(events).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.file_search_call.in_progress",
      "response.file_search_call.searching",
      "response.file_search_call.completed",
      "response.output_item.done",
      "response.output_item.added",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.annotation.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const message = completed?.output.find(
      (item) => item.type === "message",
    ) as OpenAI.Responses.ResponseOutputMessage;
    expect((message.content[0] as OpenAI.Responses.ResponseOutputText).text).toContain("Bon jour");
  });

  it("continues a stored conversation with previous_response_id, and refuses an unstored one", async () => {
    const first = await client.responses.create({ model: "scripted", input: "Hello" });
    const stored = await client.responses.retrieve(first.id);
    expect(stored.id).toBe(first.id);
    const second = await client.responses.create({
      model: "scripted",
      input: "Again",
      previous_response_id: first.id,
    });
    expect(second.previous_response_id).toBe(first.id);
    // The second prompt holds the first turn: more input tokens than the first.
    expect(second.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens);
    const inputs = await client.responses.inputItems.list(second.id, { order: "asc" });
    expect(
      inputs.data.map((item) =>
        item.type === "message" ? `${item.role}:${(item.content[0] as { text: string }).text}` : item.type,
      ),
    ).toEqual(["user:Hello", `assistant:${first.output_text}`, "user:Again"]);
    await client.responses.delete(second.id);
    await expect(client.responses.retrieve(second.id)).rejects.toMatchObject({ status: 404 });
    const unstored = await client.responses.create({ model: "scripted", input: "Hello", store: false });
    await expect(client.responses.retrieve(unstored.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      client.responses.create({ model: "scripted", input: "x", previous_response_id: unstored.id }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it("marks an answer cut short by max_output_tokens incomplete, and its message item too", async () => {
    const response = await client.responses.create({
      model: "tiny",
      input: "Tell me a story.",
      max_output_tokens: 4,
    });
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
    const message = response.output.find((item) => item.type === "message");
    expect(message?.status).toBe("incomplete");
  });

  it("returns function calls for function tools", async () => {
    const response = await client.responses.create({
      model: "tiny",
      input: "Weather in Paris?",
      max_output_tokens: 64,
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_weather" },
    });
    const call = response.output.find(
      (item) => item.type === "function_call",
    ) as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call.name).toBe("get_weather");
    expect(JSON.parse(call.arguments)).toHaveProperty("city");
    const followUp = await client.responses.create({
      model: "scripted",
      previous_response_id: response.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: '{"temperature": 18}' }],
    });
    expect(followUp.status).toBe("completed");
  });

  it("streams function call arguments as deltas that add up to the final arguments", async () => {
    const stream = await client.responses.create({
      model: "tiny",
      input: "Weather in Berlin?",
      max_output_tokens: 64,
      stream: true,
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_weather" },
    });
    let joined = "";
    let done: string | undefined;
    const types = new Set<string>();
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === "response.function_call_arguments.delta") joined += event.delta;
      if (event.type === "response.function_call_arguments.done") done = event.arguments;
    }
    expect(types.has("response.output_item.added")).toBe(true);
    expect(types.has("response.completed")).toBe(true);
    expect(done).toBeDefined();
    expect(joined).toBe(done);
    expect(JSON.parse(done!)).toHaveProperty("city");
  });

  it("rejects bad requests with OpenAI errors", async () => {
    await expect(client.responses.create({ model: "nope", input: "hi" })).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      client.responses.create({
        model: "scripted",
        input: "hi",
        tools: [{ type: "file_search", vector_store_ids: ["vs_missing"] }],
      }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      client.responses.create({ model: "scripted", input: "hi", include: ["bogus.include" as never] }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe("assistants as configuration", () => {
  it("serves config-file assistants and keeps them read-only in the admin API", async () => {
    expect((await client.models.list()).data.map((model) => model.id)).toContain("lobby");
    const admin = (path: string, method: string, body?: unknown) =>
      fetch(`${server.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${server.keys.a}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const listed = (await (await admin("/admin/v1/assistants", "GET")).json()) as {
      data: Array<{ id: string; source: string }>;
    };
    expect(listed.data.find((assistant) => assistant.id === "lobby")?.source).toBe("config");
    expect((await admin("/admin/v1/assistants/lobby", "PATCH", { instructions: "x" })).status).toBe(403);
    expect((await admin("/admin/v1/assistants/lobby", "DELETE")).status).toBe(403);
    // A member of tenant B may not manage assistants.
    const member = await fetch(`${server.baseUrl}/admin/v1/assistants`, {
      headers: { authorization: `Bearer ${server.keys.b}` },
    });
    expect(member.status).toBe(403);
    const bad = await admin("/admin/v1/assistants", "POST", {
      id: "x",
      model: "scripted",
      vector_store_ids: ["vs_nope"],
    });
    expect(bad.status).toBe(404);
    expect((await admin("/admin/v1/assistants/x", "GET")).status).toBe(404);
  });

  it("lets only the platform's admins give an assistant another policy than their own", async () => {
    const as = (key: string, path: string, method: string, body?: unknown) =>
      fetch(`${server.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const wider = await as(server.keys.bAdmin, "/admin/v1/assistants", "POST", {
      id: "lax-desk",
      model: "scripted",
      policy: "local-only-nope",
    });
    // An unknown policy name is refused too, but the rights come first for a tenant's admin.
    expect(wider.status).toBe(403);
    const other = await as(server.keys.bAdmin, "/admin/v1/assistants", "POST", {
      id: "lax-desk",
      model: "scripted",
      policy: "local-only",
    });
    expect(other.status).toBe(403);
    expect((await other.json()).error.param).toBe("policy");
    const own = await as(server.keys.bAdmin, "/admin/v1/assistants", "POST", {
      id: "b-desk",
      model: "scripted",
      policy: "eu-strict",
    });
    expect(own.status).toBe(201);
    expect(
      (await as(server.keys.bAdmin, "/admin/v1/assistants/b-desk", "PATCH", { policy: "local-only" })).status,
    ).toBe(403);
    expect((await as(server.keys.bAdmin, "/admin/v1/assistants/b-desk", "DELETE")).status).toBe(200);
    // The platform team may.
    const platform = await as(server.keys.a, "/admin/v1/assistants", "POST", {
      id: "strict-desk",
      model: "scripted",
      policy: "local-only",
    });
    expect(platform.status).toBe(201);
    expect((await as(server.keys.a, "/admin/v1/assistants/strict-desk", "DELETE")).status).toBe(200);
  });

  it("creates an assistant through the admin API, lists it as a model and answers chats on its id", async () => {
    const created = await fetch(`${server.baseUrl}/admin/v1/assistants`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.a}`, "content-type": "application/json" },
      body: JSON.stringify({
        id: "front-desk",
        model: "scripted",
        instructions: "Answer visitors.",
        vector_store_ids: [storeId],
      }),
    });
    expect(created.status).toBe(201);
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toContain("front-desk");
    expect((await client.models.retrieve("front-desk")).id).toBe("front-desk");
    const completion = await client.chat.completions.create({
      model: "front-desk",
      messages: [{ role: "user", content: "How are visitors welcomed?" }],
    });
    expect(completion.model).toBe("front-desk");
    expect(completion.choices[0]!.message.content).toContain("Bon jour");
    // The grounding reached the model: its prompt holds the retrieved passage, so it is longer
    // than the same question asked of the bare model.
    const bare = await client.chat.completions.create({
      model: "scripted",
      messages: [{ role: "user", content: "How are visitors welcomed?" }],
    });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(bare.usage!.prompt_tokens + 10);
    // Tenant B neither sees nor uses it.
    const clientB = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: server.keys.b, maxRetries: 0 });
    expect((await clientB.models.list()).data.map((model) => model.id)).not.toContain("front-desk");
    await expect(
      clientB.chat.completions.create({ model: "front-desk", messages: [{ role: "user", content: "hi" }] }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
