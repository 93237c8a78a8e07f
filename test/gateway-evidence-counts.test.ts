import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestBody } from "../src/audit/records.ts";
import { configSchema } from "../src/config/config.ts";
import type { ModelRegistry } from "../src/core/backend.ts";
import type { CompletedRequest } from "../src/core/request-record.ts";
import { createGatewayFromConfig } from "../src/gateway/create-from-config.ts";
import type { Gateway } from "../src/gateway/gateway.ts";
import { checkText, createPolicyEngine } from "../src/policy/index.ts";
import { createApp } from "../src/server/app.ts";
import { parseSseData } from "../src/server/testing/parse-sse.ts";
import { type RunningServer, startServer } from "../src/server/testing/start-server.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream/server.ts";

/*
 * What the evidence counts when values repeat: the same address twice, two different addresses,
 * values again in a tool call's arguments, a tool result and a later message. A DPO reads "2
 * emails" as two addresses, so every place that reports the counts (the x-bastion-policy header,
 * the `bastion` object of a JSON answer and of a stream's last chunk, the request record that
 * metering and audit receive, the audit body, and `bastion policy check`) counts distinct values
 * per type, and under pseudonymisation that is the number of placeholders sent.
 */

const noLocalModels: ModelRegistry = {
  list: async () => [],
  get: () => undefined,
  readiness: () => ({ ready: true }),
};

const anna = "anna.schmidt@example.de";
const paul = "paul.martin@example.fr";
const iban = "DE89 3704 0044 0532 0130 00";

const messages = [
  { role: "user", content: `Écris à ${anna} et encore à ${anna}, copie ${paul}.` },
  {
    role: "assistant",
    content: null,
    tool_calls: [
      {
        id: "call_1",
        type: "function",
        function: { name: "send_mail", arguments: JSON.stringify({ to: anna, iban }) },
      },
    ],
  },
  { role: "tool", tool_call_id: "call_1", content: `sent to ${anna}, copy to ${paul}` },
  { role: "user", content: `Now the IBAN ${iban} once more, for ${anna}.` },
];

let upstream: FakeUpstream;
let gateway: Gateway;
let server: RunningServer;
const completed: CompletedRequest[] = [];

beforeAll(async () => {
  upstream = await startFakeUpstream({ name: "counts" });
  gateway = createGatewayFromConfig({
    config: configSchema.parse({
      backends: {
        us: {
          baseUrl: upstream.baseUrl,
          jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
        },
        eu: {
          baseUrl: upstream.baseUrl,
          jurisdiction: { country: "FR", zone: "EU", operator: "Fake EU Cloud" },
        },
      },
      routes: { "us-only": { candidates: ["us/echo"] }, "eu-only": { candidates: ["eu/echo"] } },
      gateway: { healthIntervalSeconds: 0 },
    }),
    local: noLocalModels,
    observers: [{ onCompleted: (record) => void completed.push(record) }],
  });
  server = await startServer(createApp({ registry: gateway.registry, chat: gateway, web: false }));
});

afterAll(async () => {
  await server?.close();
  await gateway?.dispose();
  await upstream?.close();
});

interface WireEvidence {
  backend: string;
  policy: { action: string; data_class: string; detections: Record<string, number>; summary: string };
}

async function post(model: string, stream: boolean) {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream, messages }),
  });
  expect(response.status).toBe(200);
  const header = response.headers.get("x-bastion-policy");
  if (!stream) {
    const body = (await response.json()) as { bastion: WireEvidence };
    return { header, evidence: body.bastion };
  }
  const events = parseSseData(await response.text());
  const last = JSON.parse(events.at(-2)!) as { bastion: WireEvidence };
  return { header, evidence: last.bastion };
}

async function auditDetections(record: CompletedRequest) {
  const body = await requestBody(
    record,
    { costEur: 0, energyWh: 0, co2eG: 0, referenceCostEur: 0, savedEur: 0 },
    {
      user: async () => "u_test",
      key: async () => "k_test",
      find: async () => undefined,
      erase: async () => false,
    },
  );
  return (body.policy as { detections: Record<string, number> }).detections;
}

describe("evidence counts: distinct values per type", () => {
  const counts = { email: 2, iban: 1 };

  it.each([false, true])(
    "pseudonymised (stream: %s): 2 emails, 1 IBAN everywhere, and 3 placeholders sent",
    async (stream) => {
      const before = upstream.requests.length;
      const { header, evidence } = await post("us-only", stream);
      const summary = "2 emails, 1 IBAN pseudonymised";
      expect(header).toBe(`pseudonymise; personal; ${summary}`);
      expect(evidence).toMatchObject({
        backend: "us/echo",
        policy: { action: "pseudonymise", data_class: "personal", detections: counts, summary },
      });
      const sent = upstream.requests.slice(before).map((request) => request.body);
      expect(sent).toHaveLength(1);
      const placeholders = new Set(sent[0]!.match(/⟦[A-Z]+_\d+⟧/g));
      expect([...placeholders].sort()).toEqual(["⟦EMAIL_1⟧", "⟦EMAIL_2⟧", "⟦IBAN_1⟧"]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const record = completed.at(-1)!;
      expect(record.policy).toMatchObject({ detections: counts, summary });
      expect(await auditDetections(record)).toEqual(counts);
    },
  );

  it("raw inside the EU: the same counts, kept within the allowed zones", async () => {
    const { header, evidence } = await post("eu-only", false);
    expect(header).toBe("pseudonymise; personal; 2 emails, 1 IBAN kept within local/EU/EEA");
    expect(evidence.policy.detections).toEqual(counts);
    expect(await auditDetections(completed.at(-1)!)).toEqual(counts);
  });

  it("bastion policy check says the same of the same texts, while listing every occurrence", () => {
    const text = [
      messages[0]!.content,
      messages[1]!.tool_calls![0]!.function.arguments,
      messages[2]!.content,
      messages[3]!.content,
    ].join("\n");
    const check = checkText(createPolicyEngine(configSchema.parse({}).policies), text);
    expect(check.decision.counts).toEqual(counts);
    expect(check.decision.summary).toMatch(/^2 emails, 1 IBAN: class personal/);
    expect(check.detections.filter((detection) => detection.type === "email")).toHaveLength(7);
    expect(check.detections.filter((detection) => detection.type === "iban")).toHaveLength(2);
  });
});
