import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/config.ts";
import type { CompletedRequest } from "../../src/core/request-record.ts";
import { createGatewayFromConfig } from "../../src/gateway/create-from-config.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { createPolicyEngine } from "../../src/policy/index.ts";
import { createApp } from "../../src/server/app.ts";
import { parseSseData } from "../../src/server/testing/parse-sse.ts";
import { type RunningServer, startServer } from "../../src/server/testing/start-server.ts";
import { corpusPolicies, loadPolicyCorpus } from "../corpus/index.ts";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

/*
 * The gateway end to end over real HTTP: two recording fake providers (one EU, one US), a second
 * real Bastion instance (llama.cpp on a synthetic model) as a remote openai-compatible backend,
 * the real policy engine with the multilingual corpus, and fallback, timeouts and circuit breaking.
 */

let eu: FakeUpstream;
let us: FakeUpstream;
let flaky: FakeUpstream;
let remoteBastion: TestServer;
let gateway: Gateway;
let server: RunningServer;
const completed: CompletedRequest[] = [];

const policies = {
  ...corpusPolicies,
  definitions: {
    ...corpusPolicies.definitions,
    // Personal data may go only to EU operators, raw; nothing is pseudonymised.
    "keep-eu": {
      classes: {
        personal: {
          action: "keep-local" as const,
          zones: ["local" as const, "EU" as const],
          extraterritorial: false,
        },
      },
      detectors: {},
      custom: corpusPolicies.definitions.corpus!.custom,
      defaultClass: "public" as const,
    },
  },
};

beforeAll(async () => {
  [eu, us, flaky] = await Promise.all([
    startFakeUpstream({ name: "eu" }),
    startFakeUpstream({ name: "us" }),
    startFakeUpstream({ name: "flaky" }),
  ]);
  remoteBastion = await startTestServer({ models: [{ id: "tiny", preset: "tiny", parallel: 2 }] });
  const timeouts = { connectMs: 1_000, firstByteMs: 800, idleMs: 2_000 };
  const config = configSchema.parse({
    backends: {
      eu: {
        baseUrl: eu.baseUrl,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a config secret reference, not a template
        apiKey: "${EU_KEY}",
        jurisdiction: { country: "FR", zone: "EU", operator: "Fake EU Cloud" },
        pricing: { inputPerMillion: 0.5, outputPerMillion: 1.5 },
        timeouts,
      },
      us: {
        baseUrl: us.baseUrl,
        jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
        pricing: { inputPerMillion: 0.1, outputPerMillion: 0.2 },
        timeouts,
      },
      "bastion-b": {
        baseUrl: `${remoteBastion.baseUrl}/v1`,
        jurisdiction: { country: "FR", zone: "EU", operator: "Our second site" },
        models: { small: "tiny" },
      },
    },
    routes: {
      assistant: { candidates: ["us/echo", "eu/echo"] },
      "cheap-first": { strategy: "cheapest", candidates: ["eu/echo", "us/echo"] },
      "us-only": { candidates: ["us/echo"] },
      "us-tools": { candidates: ["us/tools"] },
      "eu-tools": { candidates: ["eu/tools"] },
      "after-500": { candidates: ["eu/status-500", "us/echo"] },
      "after-timeout": { candidates: ["eu/hang", "us/echo"] },
      "after-reset": { candidates: ["eu/reset", "us/echo"] },
      "retry-once": { candidates: ["us/flaky-1"] },
      "think-tags": { candidates: ["eu/think-tags"] },
      "reasoning-field": { candidates: ["eu/reasoning-field"] },
      "wrong-type": { candidates: ["eu/wrong-type"] },
      "mid-stream": { candidates: ["eu/mid-stream-reset"] },
      slow: { candidates: ["eu/slow"] },
      "remote-tiny": { candidates: ["bastion-b/small"] },
      "us-or-local": { candidates: ["us/echo", "local/tiny"] },
    },
    policies,
    gateway: {
      maxAttempts: 2,
      initialBackoffMs: 10,
      maxBackoffMs: 50,
      // High here so that the deliberate failures above do not open a circuit; the circuit test builds its own.
      breakerFailures: 50,
      breakerOpenMs: 400,
      healthIntervalSeconds: 0,
    },
  });
  gateway = createGatewayFromConfig({
    config,
    local: remoteBastion.platform.registry,
    policy: createPolicyEngine(policies),
    observers: [{ onCompleted: (record) => void completed.push(record) }],
    env: { EU_KEY: "eu-secret-key" },
  });
  server = await startServer(
    createApp({ registry: gateway.registry, chat: gateway, backends: gateway, web: false }),
  );
});

afterAll(async () => {
  await server?.close();
  await gateway?.dispose();
  await remoteBastion?.close();
  await Promise.all([eu?.close(), us?.close(), flaky?.close()]);
});

interface Answer {
  status: number;
  headers: Headers;
  body: {
    choices?: Array<{
      message: {
        content: string | null;
        reasoning_content?: string;
        tool_calls?: Array<{ function: { arguments: string } }>;
      };
    }>;
    error?: { code: string; message: string; reason?: string };
    bastion?: { backend: string; policy: { action: string; summary: string } };
  };
}

async function chat(
  model: string,
  content: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content }], max_tokens: 8, ...extra }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Answer["body"],
  };
}

/** Every form in which a value could sit in a JSON request body. */
function leaked(bodies: string[], value: string): boolean {
  const escaped = JSON.stringify(value).slice(1, -1);
  return bodies.some((body) => body.includes(value) || body.includes(escaped));
}

/** Runs prompts eight at a time, as a busy client would. */
async function inBatches<T, R>(items: T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let start = 0; start < items.length; start += 8)
    out.push(...(await Promise.all(items.slice(start, start + 8).map(run))));
  return out;
}

describe("residency with the policy corpus", () => {
  const corpus = loadPolicyCorpus();

  it("pseudonymises personal data for the US provider: zero planted values reach it, the client sees them all", async () => {
    const before = us.requests.length;
    const answers = await inBatches(corpus, async (prompt) => ({
      prompt,
      answer: await chat("assistant", prompt.text),
    }));
    const usBodies = us.requests.slice(before).map((request) => request.body);
    const leaks = corpus.flatMap((prompt) =>
      prompt.planted
        .filter((planted) => leaked(usBodies, planted.value))
        .map((p) => `${prompt.id} ${p.type}`),
    );
    expect(leaks).toEqual([]);
    let pseudonymised = 0;
    for (const { prompt, answer } of answers) {
      const types = new Set(prompt.planted.map((planted) => planted.type));
      if (types.has("secret")) {
        // Secrets stay on this server under eu-strict, and this route has no local candidate.
        expect(answer.status, prompt.id).toBe(403);
        expect(answer.body.error?.message, prompt.id).toMatch(/reason: /);
        continue;
      }
      expect(answer.status, `${prompt.id} ${JSON.stringify(answer.body.error)}`).toBe(200);
      const content = answer.body.choices?.[0]?.message.content ?? "";
      for (const planted of prompt.planted)
        expect(content, `${prompt.id} ${planted.type}`).toContain(planted.value);
      expect(content).not.toContain("⟦");
      if (answer.body.bastion?.backend === "us/echo") {
        pseudonymised++;
        expect(answer.headers.get("x-bastion-policy")).toMatch(/^pseudonymise; personal; .*pseudonymised/);
        expect(answer.headers.get("x-bastion-jurisdiction")).toBe("US; other; Fake US AI; extraterritorial");
      } else {
        // Internal data (a project code name) stays in the EU, raw.
        expect(answer.body.bastion?.backend).toBe("eu/echo");
      }
    }
    expect(pseudonymised).toBeGreaterThan(50);
  });

  it("under keep-local, personal data goes raw to the EU backend and never to the US one", async () => {
    const sample = corpus
      .filter((prompt) => !prompt.planted.some((planted) => planted.type === "secret"))
      .slice(0, 60);
    const keepGateway = createGatewayFromConfig({
      config: configSchema.parse({
        backends: {
          us: {
            baseUrl: us.baseUrl,
            jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
          },
          eu: { baseUrl: eu.baseUrl, jurisdiction: { country: "FR", zone: "EU", operator: "Fake EU Cloud" } },
        },
        routes: { assistant: { candidates: ["us/echo", "eu/echo"] } },
        policies: { ...policies, default: "keep-eu" },
        gateway: { healthIntervalSeconds: 0 },
      }),
      local: remoteBastion.platform.registry,
    });
    const keepServer = await startServer(
      createApp({ registry: keepGateway.registry, chat: keepGateway, web: false }),
    );
    try {
      const usBefore = us.requests.length;
      for (const prompt of sample) {
        const response = await fetch(`${keepServer.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "assistant", messages: [{ role: "user", content: prompt.text }] }),
        });
        const body = (await response.json()) as Answer["body"];
        expect(response.status, prompt.id).toBe(200);
        // Personal and internal data stay in the EU; a prompt with nothing detected may go anywhere.
        expect(body.bastion?.backend, prompt.id).toBe(prompt.planted.length > 0 ? "eu/echo" : "us/echo");
        for (const planted of prompt.planted)
          expect(body.choices?.[0]?.message.content).toContain(planted.value);
      }
      const usBodies = us.requests.slice(usBefore).map((request) => request.body);
      const leaks = sample.flatMap((prompt) =>
        prompt.planted.filter((planted) => leaked(usBodies, planted.value)),
      );
      expect(leaks).toEqual([]);
    } finally {
      await keepServer.close();
      await keepGateway.dispose();
    }
  });

  it("restores placeholders inside tool-call arguments", async () => {
    const answer = await chat("us-tools", "Écris à jean.dupont@example.fr au sujet de la facture.");
    expect(answer.status).toBe(200);
    const args = JSON.parse(answer.body.choices![0]!.message.tool_calls![0]!.function.arguments) as {
      note: string;
    };
    expect(args.note).toContain("jean.dupont@example.fr");
    expect(us.requests.at(-1)!.body).not.toContain("jean.dupont@example.fr");
    expect(us.requests.at(-1)!.body).toContain("⟦EMAIL_1⟧");
  });

  it("restores a placeholder split across streamed chunks", async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "us-only",
        stream: true,
        messages: [{ role: "user", content: "Mail anna.schmidt@example.de and anna.schmidt@example.de" }],
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-bastion-backend")).toBe("us/echo");
    const events = parseSseData(await response.text());
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events
      .slice(0, -1)
      .map(
        (event) =>
          JSON.parse(event) as { choices: Array<{ delta: { content?: string } }>; bastion?: unknown },
      );
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("You said: Mail anna.schmidt@example.de and anna.schmidt@example.de");
    expect(chunks.at(-1)?.bastion).toMatchObject({ backend: "us/echo", policy: { action: "pseudonymise" } });
    // Same value, same placeholder.
    expect(us.requests.at(-1)!.json).toMatchObject({
      messages: [{ content: "Mail ⟦EMAIL_1⟧ and ⟦EMAIL_1⟧" }],
    });
  });

  it("blocks with a machine-readable reason when no candidate is allowed", async () => {
    const answer = await chat("us-only", "Our deploy key is AKIAIOSFODNN7EXAMPLE, keep it safe.");
    expect(answer.status).toBe(403);
    expect(answer.body.error?.code).toBe("forbidden");
    expect(answer.body.error?.message).toMatch(/reason: no_allowed_backend/);
    // Machine-readable: a header in every dialect, and a field of OpenAI's error object.
    expect(answer.headers.get("x-bastion-policy-reason")).toBe("no_allowed_backend");
    expect(answer.body.error).toMatchObject({ reason: "no_allowed_backend" });
    expect(
      leaked(
        us.requests.map((request) => request.body),
        "AKIAIOSFODNN7EXAMPLE",
      ),
    ).toBe(false);
    const record = completed.at(-1)!;
    expect(record.status).toBe("blocked");
    expect(JSON.stringify(record)).not.toContain("AKIAIOSFODNN7EXAMPLE");
  });

  it("runs a chat under its context's policy (an assistant's) rather than its principal's", async () => {
    const request = {
      model: "us/echo",
      messages: [{ role: "user" as const, content: "Mail anna.schmidt@example.de" }],
      sampling: {},
      maxTokens: 8,
    };
    const context = {
      signal: new AbortController().signal,
      requestId: "policy-of-the-context",
      endpoint: "/v1/chat/completions",
      principal: { tenantId: "default", roles: ["member" as const], policy: "keep-eu" },
    };
    // The principal's keep-eu keeps personal data away from the US provider...
    await expect(gateway.open(request, context)).rejects.toMatchObject({ reason: "no_allowed_backend" });
    // ...but the context's policy wins: the default pseudonymises it for that provider instead.
    const session = await gateway.open(request, { ...context, policy: "corpus" });
    for await (const _part of session.parts) {
      // read to the end
    }
    expect(session.evidence().policy).toMatchObject({ policy: "corpus", action: "pseudonymise" });
  });

  it("fails closed: a detector that throws denies the request and nothing leaves", async () => {
    const failing = createGatewayFromConfig({
      config: configSchema.parse({
        backends: {
          us: { baseUrl: us.baseUrl, jurisdiction: { country: "US", zone: "other", operator: "Fake US AI" } },
        },
        routes: { chat: { candidates: ["us/echo"] } },
        gateway: { healthIntervalSeconds: 0 },
      }),
      local: remoteBastion.platform.registry,
      policy: createPolicyEngine(policies, {
        detectors: [
          {
            name: "broken",
            detect: () => {
              throw new Error("detector bug");
            },
          },
        ],
      }),
    });
    const failingServer = await startServer(
      createApp({ registry: failing.registry, chat: failing, web: false }),
    );
    try {
      const before = us.requests.length;
      const response = await fetch(`${failingServer.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "Hello" }] }),
      });
      expect(response.status).toBe(403);
      const body = (await response.json()) as Answer["body"];
      expect(body.error?.message).toMatch(/reason: policy_error/);
      expect(us.requests.length).toBe(before);
    } finally {
      await failingServer.close();
      await failing.dispose();
    }
  });

  it("answers a bad x-bastion-data-class with a 400 naming the header", async () => {
    const answer = await chat("us-only", "Hello", {}, { "x-bastion-data-class": "top-secret" });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toMatch(
      /x-bastion-data-class must be one of public, internal, personal, secret/,
    );
  });

  it("keeps secret-class data on the local engine when the route offers it (real llama.cpp)", async () => {
    const answer = await chat(
      "us-or-local",
      "Ruf mich an: +49 30 901820, Anna.",
      {},
      { "x-bastion-data-class": "secret" },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.bastion?.backend).toBe("tiny");
    expect(answer.headers.get("x-bastion-jurisdiction")).toMatch(/^local; local/);
  });
});

describe("routing and resilience", () => {
  it("serves a route from a second real Bastion instance, with usage and evidence", async () => {
    const answer = await chat("remote-tiny", "Hello there");
    expect(answer.status).toBe(200);
    expect(answer.body.bastion?.backend).toBe("bastion-b/small");
    expect(answer.headers.get("x-bastion-jurisdiction")).toBe("FR; EU; Our second site");
    const record = completed.at(-1)!;
    expect(record).toMatchObject({
      backend: "bastion-b",
      backendKind: "remote",
      model: "small",
      status: "ok",
    });
    expect(record.usage.promptTokens).toBeGreaterThan(0);
    expect(record.usage.completionTokens).toBeGreaterThan(0);
  });

  it("orders by price with the cheapest strategy", async () => {
    const answer = await chat("cheap-first", "Hello");
    expect(answer.body.bastion?.backend).toBe("us/echo");
  });

  it.each([
    ["after-500", "status-500"],
    ["after-timeout", "hang"],
    ["after-reset", "reset"],
  ])("falls back from %s to the next candidate", async (route, model) => {
    const calls = eu.calls(model);
    const answer = await chat(route, "Hello");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.bastion?.backend).toBe("us/echo");
    expect(answer.body.choices?.[0]?.message.content).toBe("You said: Hello");
    // Retryable: tried twice (maxAttempts 2) before falling back.
    expect(eu.calls(model) - calls).toBe(2);
  });

  it("retries a retryable failure on the same backend", async () => {
    const answer = await chat("retry-once", "Hello");
    expect(answer.status).toBe(200);
    expect(us.calls("flaky-1")).toBe(2);
  });

  it("sends the configured key, read from the environment", () => {
    expect(eu.requests.find((request) => request.path === "/chat/completions")?.headers.authorization).toBe(
      "Bearer eu-secret-key",
    );
  });

  it("normalises <think> in content and vLLM's reasoning field to reasoning_content", async () => {
    for (const route of ["think-tags", "reasoning-field"]) {
      const answer = await chat(route, "Hi");
      expect(answer.body.choices?.[0]?.message).toMatchObject({
        content: "You said: Hi",
        reasoning_content: "Let me think.",
      });
    }
  });

  it("streams a remote tool call's arguments as they come", async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "eu-tools", stream: true, messages: [{ role: "user", content: "Hi" }] }),
    });
    const events = parseSseData(await response.text()).slice(0, -1);
    const calls = events
      .map(
        (event) =>
          JSON.parse(event) as {
            choices: Array<{
              delta: { tool_calls?: Array<{ id?: string; function: { name?: string; arguments?: string } }> };
            }>;
          },
      )
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(calls.length).toBeGreaterThan(3);
    expect(calls[0]).toMatchObject({ id: "call_1", function: { name: "save_note" } });
    expect(JSON.parse(calls.map((call) => call.function.arguments ?? "").join(""))).toEqual({
      note: "You said: Hi",
    });
  });

  it("cancels the upstream request when the client goes away", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "slow", stream: true, messages: [{ role: "user", content: "Hi" }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    const upstreamRequest = eu.requests.at(-1)!;
    expect(upstreamRequest.json).toMatchObject({ model: "slow" });
    controller.abort();
    const deadline = Date.now() + 5_000;
    while (upstreamRequest.abandoned !== true && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(upstreamRequest.abandoned).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(completed.at(-1)).toMatchObject({ backend: "eu", model: "slow", status: "cancelled" });
  });

  it("answers a broken upstream with an OpenAI-shaped 502", async () => {
    const answer = await chat("wrong-type", "Hi");
    expect(answer.status).toBe(502);
    expect(answer.body.error).toMatchObject({ code: "upstream_error" });
    expect(answer.body.error?.message).toMatch(/content type 'text\/html'/);
  });

  it("ends a stream that breaks after its first byte with a final error event", async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "mid-stream",
        stream: true,
        messages: [{ role: "user", content: "Hi" }],
      }),
    });
    expect(response.status).toBe(200);
    const events = parseSseData(await response.text());
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { code: "upstream_error" } });
    expect(events.join("")).toContain("Partial");
  });

  it("opens the circuit after repeated failures, stops calling the backend, and closes it once a probe succeeds", async () => {
    const circuitGateway = createGatewayFromConfig({
      config: configSchema.parse({
        backends: {
          flaky: {
            baseUrl: flaky.baseUrl,
            jurisdiction: { country: "DE", zone: "EU", operator: "Flaky GmbH" },
          },
        },
        routes: { "flaky-only": { candidates: ["flaky/echo"] } },
        gateway: { maxAttempts: 1, breakerFailures: 2, breakerOpenMs: 300, healthIntervalSeconds: 0 },
      }),
      local: remoteBastion.platform.registry,
    });
    const circuitServer = await startServer(
      createApp({
        registry: circuitGateway.registry,
        chat: circuitGateway,
        backends: circuitGateway,
        web: false,
      }),
    );
    const ask = async () => {
      const response = await fetch(`${circuitServer.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "flaky-only", messages: [{ role: "user", content: "Hi" }] }),
      });
      return { status: response.status, body: (await response.json()) as Answer["body"] };
    };
    const state = async () => {
      const response = await fetch(`${circuitServer.url}/admin/v1/backends`);
      const body = (await response.json()) as { data: Array<{ id: string; health: { state: string } }> };
      return body.data.find((backend) => backend.id === "flaky")!.health.state;
    };
    try {
      flaky.down = true;
      for (let attempt = 0; attempt < 2; attempt++) expect((await ask()).status).toBe(502);
      expect(await state()).toBe("open");
      const contacted = flaky.requests.length;
      const refused = await ask();
      expect(refused.status).toBe(502);
      expect(refused.body.error?.message).toMatch(/circuit open/);
      expect(flaky.requests.length).toBe(contacted);
      flaky.down = false;
      // The guard probes the health path once the open period is over; no client traffic needed.
      const deadline = Date.now() + 15_000;
      while ((await state()) !== "closed" && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await state()).toBe("closed");
      expect(flaky.requests.some((request) => request.path === "/models")).toBe(true);
      expect((await ask()).status).toBe(200);
    } finally {
      flaky.down = false;
      await circuitServer.close();
      await circuitGateway.dispose();
    }
  });

  it("lists routes in /v1/models and backends with jurisdiction and price", async () => {
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((model) => model.id)).toEqual(
      expect.arrayContaining(["tiny", "assistant", "remote-tiny"]),
    );
    const backends = (await (await fetch(`${server.url}/admin/v1/backends`)).json()) as {
      data: Array<Record<string, unknown>>;
    };
    expect(backends.data.find((backend) => backend.id === "us")).toMatchObject({
      kind: "remote",
      jurisdiction: { country: "US", zone: "other", extraterritorial: true },
      pricing: { input_per_million_eur: 0.1, output_per_million_eur: 0.2 },
      health: { state: "closed", healthy: true },
    });
    expect(JSON.stringify(backends)).not.toContain("eu-secret-key");
    // The evidence's backend/model resolves in the registry with its price, for metering.
    expect(gateway.registry.get("us/echo")?.pricing).toEqual({ inputPerMillion: 0.1, outputPerMillion: 0.2 });
    expect(gateway.registry.get("nowhere/echo")).toBeUndefined();
  });

  it("embeds through a route only where raw egress is allowed", async () => {
    const before = { eu: eu.requests.length, us: us.requests.length };
    const response = await fetch(`${server.url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "assistant", input: ["Écrire à paul.martin@example.fr", "bonjour"] }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ embedding: number[] }> };
    expect(body.data.map((item) => item.embedding[0])).toEqual([31, 7]);
    // Personal data cannot be pseudonymised into a vector: the US candidate is skipped.
    expect(us.requests.length).toBe(before.us);
    expect(eu.requests.slice(before.eu).map((request) => request.path)).toEqual(["/embeddings"]);
  });

  it("never reports a detected value to observers", () => {
    const text = JSON.stringify(completed);
    for (const prompt of loadPolicyCorpus())
      for (const planted of prompt.planted) expect(text).not.toContain(planted.value);
  });
});
