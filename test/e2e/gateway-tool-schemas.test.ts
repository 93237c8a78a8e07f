import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/config.ts";
import type { ModelRegistry } from "../../src/core/backend.ts";
import { createGatewayFromConfig } from "../../src/gateway/create-from-config.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { createApp } from "../../src/server/app.ts";
import { type RunningServer, startServer } from "../../src/server/testing/start-server.ts";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/server.ts";

/*
 * Tool definitions and response_format schemas over real HTTP: a planted email in a tool's
 * description or in a json_schema never reaches the US fake provider, under pseudonymise (the
 * default eu-strict policy) and under keep-local; a property name that is an email, which no
 * placeholder can stand in for, is refused with a 403 that names the field.
 */

const email = "claire.martin@example.fr";
const noLocalModels: ModelRegistry = {
  list: async () => [],
  get: () => undefined,
  readiness: () => ({ ready: true }),
};

let eu: FakeUpstream;
let us: FakeUpstream;
const gateways: Gateway[] = [];
const servers: Record<"pseudonymise" | "keepLocal", RunningServer> = {} as never;

async function serve(defaultPolicy: string): Promise<RunningServer> {
  const gateway = createGatewayFromConfig({
    config: configSchema.parse({
      backends: {
        us: {
          baseUrl: us.baseUrl,
          jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
        },
        eu: { baseUrl: eu.baseUrl, jurisdiction: { country: "FR", zone: "EU", operator: "Fake EU Cloud" } },
      },
      routes: {
        "us-only": { candidates: ["us/echo"] },
        "us-tools": { candidates: ["us/tools"] },
        "us-then-eu": { candidates: ["us/echo", "eu/echo"] },
      },
      policies: {
        default: defaultPolicy,
        definitions: {
          "keep-eu": {
            classes: {
              personal: { action: "keep-local", zones: ["local", "EU"], extraterritorial: false },
            },
          },
        },
      },
      gateway: { healthIntervalSeconds: 0 },
    }),
    local: noLocalModels,
  });
  gateways.push(gateway);
  return startServer(createApp({ registry: gateway.registry, chat: gateway, backends: gateway, web: false }));
}

beforeAll(async () => {
  [eu, us] = await Promise.all([startFakeUpstream({ name: "eu" }), startFakeUpstream({ name: "us" })]);
  servers.pseudonymise = await serve("eu-strict");
  servers.keepLocal = await serve("keep-eu");
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server.close()));
  await Promise.all(gateways.map((gateway) => gateway.dispose()));
  await Promise.all([eu?.close(), us?.close()]);
});

const tool = (description: string, properties: Record<string, unknown> = { city: { type: "string" } }) => ({
  type: "function",
  function: { name: "notify", description, parameters: { type: "object", properties, required: ["city"] } },
});

async function post(server: RunningServer, body: Record<string, unknown>) {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Weather in Lyon?" }], ...body }),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      error?: { message: string; type: string };
      bastion?: { backend: string; policy: { action: string; summary: string } };
      choices?: Array<{
        message: { content: string | null; tool_calls?: Array<{ function: { arguments: string } }> };
      }>;
    },
  };
}

describe("tool definitions and response_format schemas at the US provider", () => {
  it("pseudonymise: a planted email in a tool description reaches the US provider only as a placeholder", async () => {
    const before = us.requests.length;
    const answer = await post(servers.pseudonymise, {
      model: "us-only",
      tools: [tool(`Send the result to ${email} when done.`)],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.bastion?.policy).toMatchObject({
      action: "pseudonymise",
      summary: "1 email pseudonymised",
    });
    const sent = us.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).not.toContain(email);
    expect(sent[0]!.json).toMatchObject({
      tools: [
        {
          type: "function",
          function: {
            name: "notify",
            description: "Send the result to ⟦EMAIL_1⟧ when done.",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        },
      ],
    });
  });

  it("pseudonymise: an email in a json_schema enum is masked, and the answer carries it back", async () => {
    const before = us.requests.length;
    const answer = await post(servers.pseudonymise, {
      model: "us-only",
      messages: [{ role: "user", content: `Pick ${email}` }],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "pick",
          schema: { type: "object", properties: { to: { type: "string", enum: [email, "nobody"] } } },
        },
      },
    });
    expect(answer.status).toBe(200);
    const sent = us.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).not.toContain(email);
    expect(sent[0]!.body).toContain('"enum":["⟦EMAIL_1⟧","nobody"]');
    // The echo upstream repeats the masked message; the client sees the original value.
    expect(answer.body.choices?.[0]?.message.content).toContain(email);
  });

  it("keep-local: a tool description with an email skips the US candidate for the EU one", async () => {
    const before = { us: us.requests.length, eu: eu.requests.length };
    const answer = await post(servers.keepLocal, {
      model: "us-then-eu",
      tools: [tool(`Send the result to ${email} when done.`)],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.bastion?.backend).toBe("eu/echo");
    expect(us.requests.length).toBe(before.us);
    expect(eu.requests.length).toBe(before.eu + 1);
    // Raw to the EU operator, as the policy allows.
    expect(eu.requests.at(-1)!.body).toContain(email);
  });

  it("a property name that is an email cannot be pseudonymised: 403 naming the field, nothing sent", async () => {
    const before = us.requests.length;
    const answer = await post(servers.pseudonymise, {
      model: "us-only",
      tools: [tool("Notify someone.", { [email]: { type: "string" } })],
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error?.type).toBe("permission_error");
    expect(answer.body.error?.message).toContain('tools[0].function.parameters.properties["⟦EMAIL⟧"] (name)');
    expect(answer.body.error?.message).toContain("reason: unmaskable_field");
    expect(answer.body.error?.message).not.toContain(email);
    expect(us.requests.length).toBe(before);
  });
});
