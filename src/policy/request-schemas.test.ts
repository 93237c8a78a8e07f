import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { ChatRequest, JsonSchema } from "../core/chat.ts";
import { egressFor, policyDenied } from "./egress.ts";
import { createPolicyEngine } from "./policy-engine.ts";
import { PolicyDeniedError } from "./policy-error.ts";
import { createPseudonymiser } from "./pseudonymiser.ts";
import { requestTexts } from "./request-texts.ts";
import type { BackendPlace } from "./types.ts";

/*
 * Tool definitions and response_format schemas are texts a backend sees too: they are scanned
 * through the real policy engine, pseudonymised where a placeholder keeps the schema meaning the
 * same thing, and denied (403 naming the field) where it would not.
 */

const policies = (raw: unknown = {}) => configSchema.parse({ policies: raw }).policies;
const engine = createPolicyEngine(
  policies({
    definitions: {
      "keep-eu": {
        classes: { personal: { action: "keep-local", zones: ["local", "EU"], extraterritorial: false } },
      },
    },
  }),
);

const eu: BackendPlace = {
  id: "scaleway",
  jurisdiction: { country: "FR", zone: "EU", operator: "Scaleway" },
};
const us: BackendPlace = { id: "openai", jurisdiction: { country: "US", zone: "other", operator: "OpenAI" } };

const weatherParameters: JsonSchema = {
  type: "object",
  properties: {
    city: { type: "string", description: "The city. Escalate to ops.lead@example.fr when unsure." },
    owner: {
      type: "string",
      enum: ["anna.schmidt@example.de", "nobody"],
      default: "anna.schmidt@example.de",
    },
    code: { type: "string", pattern: "^[A-Z]{3}-\\d{4}$" },
  },
  required: ["city"],
  additionalProperties: false,
};

function withTools(parameters: JsonSchema, description = "Current weather for a city."): ChatRequest {
  return {
    model: "m",
    sampling: {},
    messages: [{ role: "user", content: "What is the weather in Lyon?" }],
    tools: [{ name: "get_weather", description, parameters }],
  };
}

describe("tool definitions and response_format schemas are scanned", () => {
  it("lists every string and key of a tool and of a json_schema as request texts, with paths", () => {
    const request: ChatRequest = {
      ...withTools(weatherParameters),
      responseFormat: {
        type: "json_schema",
        name: "answer",
        schema: { type: "object", properties: { note: { type: "string", title: "Call +33 6 12 34 56 78" } } },
      },
    };
    const texts = requestTexts(request);
    const byPath = new Map(texts.map((text) => [text.path, text]));
    expect(byPath.get("tools[0].function.name")).toEqual({
      path: "tools[0].function.name",
      text: "get_weather",
      maskable: false,
    });
    expect(byPath.get("tools[0].function.description")?.maskable).toBe(true);
    expect(byPath.get("tools[0].function.parameters.properties.city.description")?.maskable).toBe(true);
    expect(byPath.get("tools[0].function.parameters.properties.owner.enum[0]")?.maskable).toBe(true);
    expect(byPath.get("tools[0].function.parameters.properties.code.pattern")?.maskable).toBe(false);
    expect(byPath.get("tools[0].function.parameters.required[0]")?.maskable).toBe(false);
    expect(byPath.get("tools[0].function.parameters.properties.city (name)")).toMatchObject({
      text: "city",
      maskable: false,
    });
    expect(byPath.get("response_format.json_schema.name")?.maskable).toBe(false);
    expect(byPath.get("response_format.json_schema.schema.properties.note.title")?.text).toBe(
      "Call +33 6 12 34 56 78",
    );
  });

  it("finds personal data in a tool description, its parameters and a response_format schema", () => {
    const request: ChatRequest = {
      ...withTools(weatherParameters, "Weather. Bill the IBAN DE89 3704 0044 0532 0130 00."),
      responseFormat: {
        type: "json_schema",
        name: "answer",
        schema: { type: "object", properties: { note: { type: "string", title: "Call +33 6 12 34 56 78" } } },
      },
    };
    const inspection = engine.inspect(request);
    const found = inspection.detections.map((detection) => [detection.type, detection.path]);
    expect(found).toEqual(
      expect.arrayContaining([
        ["iban", "tools[0].function.description"],
        ["email", "tools[0].function.parameters.properties.city.description"],
        ["email", "tools[0].function.parameters.properties.owner.enum[0]"],
        ["email", "tools[0].function.parameters.properties.owner.default"],
        ["phone", "response_format.json_schema.schema.properties.note.title"],
      ]),
    );
    expect(inspection.dataClass).toBe("personal");
    expect(inspection.unmaskable).toBeUndefined();
  });

  it("a clean tool definition leaves the request public", () => {
    const inspection = engine.inspect(
      withTools({ type: "object", properties: { city: { type: "string" } } }),
    );
    expect(inspection.detections).toEqual([]);
    expect(inspection.dataClass).toBe("public");
  });
});

describe("the policy applies to them as to message text", () => {
  it("keep-local: personal data in a tool description never goes to a US backend", () => {
    const inspection = engine.inspect(withTools({}, "Send the report to ops.lead@example.fr."), {
      policy: "keep-eu",
    });
    expect(inspection.action).toBe("keep-local");
    expect(egressFor(inspection, us)).toBe("denied");
    expect(egressFor(inspection, eu)).toBe("raw");
  });

  it("pseudonymise: the masked schema is the same schema with placeholders in its prose and values", () => {
    const request = withTools(weatherParameters, "Weather. Questions to ops.lead@example.fr.");
    const inspection = engine.inspect(request);
    expect(inspection.action).toBe("pseudonymise");
    expect(egressFor(inspection, us)).toBe("pseudonymised");
    const pseudonymiser = createPseudonymiser(inspection);
    const masked = pseudonymiser.mask(request);
    const tool = masked.tools?.[0];
    expect(tool?.description).toBe("Weather. Questions to ⟦EMAIL_1⟧.");
    expect(tool?.parameters).toEqual({
      type: "object",
      properties: {
        city: { type: "string", description: "The city. Escalate to ⟦EMAIL_1⟧ when unsure." },
        owner: { type: "string", enum: ["⟦EMAIL_2⟧", "nobody"], default: "⟦EMAIL_2⟧" },
        code: { type: "string", pattern: "^[A-Z]{3}-\\d{4}$" },
      },
      required: ["city"],
      additionalProperties: false,
    });
    expect(JSON.stringify(masked)).not.toMatch(/example\.(fr|de)/);
    // The client's request is left as it was.
    expect(request.tools?.[0]?.description).toBe("Weather. Questions to ops.lead@example.fr.");
    // An answer choosing the masked enum value comes back as the real one.
    expect(pseudonymiser.restoreArguments('{"owner":"⟦EMAIL_2⟧"}')).toBe(
      '{"owner":"anna.schmidt@example.de"}',
    );
  });

  it("pseudonymise: a json_schema response format is masked the same way", () => {
    const request: ChatRequest = {
      model: "m",
      sampling: {},
      messages: [{ role: "user", content: "Fill the form." }],
      responseFormat: {
        type: "json_schema",
        name: "form",
        strict: true,
        schema: {
          type: "object",
          properties: { contact: { type: "string", const: "jan.kowalski@example.pl" } },
          required: ["contact"],
        },
      },
    };
    const masked = createPseudonymiser(engine.inspect(request)).mask(request);
    expect(masked.responseFormat).toEqual({
      type: "json_schema",
      name: "form",
      strict: true,
      schema: {
        type: "object",
        properties: { contact: { type: "string", const: "⟦EMAIL_1⟧" } },
        required: ["contact"],
      },
    });
  });

  it("personal data in a property name cannot be pseudonymised: denied with a 403 naming the field, raw where allowed", () => {
    const request = withTools({
      type: "object",
      properties: { "jean.dupont@example.fr": { type: "string" } },
      required: ["jean.dupont@example.fr"],
    });
    const inspection = engine.inspect(request);
    expect(inspection.action).toBe("pseudonymise");
    expect(inspection.unmaskable).toEqual([
      'tools[0].function.parameters.properties["⟦EMAIL⟧"] (name)',
      "tools[0].function.parameters.required[0]",
    ]);
    expect(egressFor(inspection, us)).toBe("denied");
    expect(egressFor(inspection, eu)).toBe("raw");
    const error = policyDenied(inspection, "gpt-x");
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(error.reason).toBe("unmaskable_field");
    expect(error.status).toBe(403);
    expect(error.message).toContain('tools[0].function.parameters.properties["⟦EMAIL⟧"] (name)');
    expect(error.message).not.toContain("jean.dupont");
  });

  it("personal data in a pattern or a tool name is unmaskable too", () => {
    const pattern = engine.inspect(
      withTools({
        type: "object",
        properties: { to: { type: "string", pattern: "^(ops.lead@example.fr|nobody)$" } },
      }),
    );
    expect(pattern.unmaskable).toEqual(["tools[0].function.parameters.properties.to.pattern"]);
    expect(egressFor(pattern, us)).toBe("denied");
  });

  it("the pseudonymiser itself refuses to put a placeholder in an unmaskable field (fail closed)", () => {
    // The email is detected in the message; it recurs inside a pattern where, escaped, no detector fires.
    const request: ChatRequest = {
      ...withTools({ type: "object", properties: { to: { type: "string", pattern: "a.b@example.fr" } } }),
      messages: [{ role: "user", content: "Write to a.b@example.fr" }],
    };
    const inspection = engine.inspectText("Write to a.b@example.fr");
    const pseudonymiser = createPseudonymiser({
      ...inspection,
      detections: inspection.detections.map((detection) => ({ ...detection, path: "messages[0].content" })),
    });
    expect(() => pseudonymiser.mask(request)).toThrowError(/cannot be pseudonymised/);
    try {
      pseudonymiser.mask(request);
    } catch (error) {
      expect((error as PolicyDeniedError).reason).toBe("unmaskable_field");
      expect((error as Error).message).not.toContain("a.b@example.fr");
    }
  });
});
