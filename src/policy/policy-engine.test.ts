import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema, loadConfig } from "../config/config.ts";
import type { ChatRequest } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { checkText } from "./check.ts";
import { egressFor, policyDenied, summarise } from "./egress.ts";
import { createPolicyEngine } from "./policy-engine.ts";
import { PolicyDeniedError } from "./policy-error.ts";
import type { BackendPlace } from "./types.ts";

const policies = (raw: unknown = {}) => configSchema.parse({ policies: raw }).policies;
const engine = createPolicyEngine(policies());

const local: BackendPlace = { id: "local", jurisdiction: { country: "FR", zone: "local", operator: "self" } };
const eu: BackendPlace = {
  id: "scaleway",
  jurisdiction: { country: "FR", zone: "EU", operator: "Scaleway" },
};
const usInEu: BackendPlace = {
  id: "azure-fra",
  jurisdiction: { country: "DE", zone: "EU", operator: "Microsoft", extraterritorial: true },
};
const us: BackendPlace = { id: "openai", jurisdiction: { country: "US", zone: "other", operator: "OpenAI" } };

const request = (messages: ChatRequest["messages"]): ChatRequest => ({ model: "m", messages, sampling: {} });

describe("classification and the default eu-strict policy", () => {
  it("works with no config: public text goes anywhere", () => {
    const inspection = engine.inspectText("Summarise the meeting notes in three points.");
    expect(inspection).toMatchObject({
      policy: "eu-strict",
      dataClass: "public",
      action: "allow",
      detections: [],
    });
    expect(egressFor(inspection, us)).toBe("raw");
    expect(summarise(inspection, "raw").summary).toBe("no personal data detected");
  });

  it("personal data: raw inside the EU, pseudonymised at a US operator even in Frankfurt", () => {
    const inspection = engine.inspectText(
      "Write to a.b@example.fr and c.d@example.de about IBAN DE89370400440532013000",
    );
    expect(inspection.dataClass).toBe("personal");
    expect(inspection.action).toBe("pseudonymise");
    expect(inspection.counts).toEqual({ email: 2, iban: 1 });
    expect(egressFor(inspection, local)).toBe("raw");
    expect(egressFor(inspection, eu)).toBe("raw");
    expect(egressFor(inspection, usInEu)).toBe("pseudonymised");
    expect(egressFor(inspection, us)).toBe("pseudonymised");
    expect(summarise(inspection, "pseudonymised")).toEqual({
      policy: "eu-strict",
      dataClass: "personal",
      action: "pseudonymise",
      detections: { email: 2, iban: 1 },
      summary: "2 emails, 1 IBAN pseudonymised",
    });
  });

  it("counts distinct values per type: a value repeated across messages and tool arguments is one", () => {
    const inspection = engine.inspect(
      request([
        { role: "user", content: "Mail a.b@example.fr, then a.b@example.fr again, and c.d@example.de" },
        {
          role: "assistant",
          content: "",
          toolCalls: [
            { id: "c1", name: "send", arguments: '{"to":"a.b@example.fr","iban":"DE89370400440532013000"}' },
          ],
        },
        { role: "tool", toolCallId: "c1", content: "sent to a.b@example.fr" },
        { role: "user", content: "Pay DE89370400440532013000 and tell c.d@example.de" },
      ]),
    );
    expect(inspection.detections.filter((detection) => detection.type === "email")).toHaveLength(6);
    expect(inspection.counts).toEqual({ email: 2, iban: 1 });
    expect(summarise(inspection, "pseudonymised").summary).toBe("2 emails, 1 IBAN pseudonymised");
    expect(summarise(inspection, "raw").summary).toBe("2 emails, 1 IBAN kept within local/EU/EEA");
    expect(checkText(engine, "x@example.fr and x@example.fr").decision).toMatchObject({
      counts: { email: 1 },
      summary: expect.stringMatching(/^1 email: class personal/),
    });
  });

  it("a secret outranks personal data and stays on this server", () => {
    const inspection = engine.inspectText("mail x@example.fr key AKIAIOSFODNN7EXAMPLE");
    expect(inspection.dataClass).toBe("secret");
    expect(inspection.action).toBe("keep-local");
    expect(egressFor(inspection, local)).toBe("raw");
    expect(egressFor(inspection, eu)).toBe("denied");
    const error = policyDenied(inspection, "mistral-large");
    expect(error).toBeInstanceOf(BastionError);
    expect(error.status).toBe(403);
    expect(error.reason).toBe("no_allowed_backend");
    expect(error.message).not.toContain("AKIA");
  });

  it("the declared class raises the class but never lowers it; a bad value is a 400 naming the header", () => {
    expect(engine.inspectText("hello", { declaredDataClass: "secret" }).dataClass).toBe("secret");
    expect(engine.inspectText("x@example.fr", { declaredDataClass: "public" }).dataClass).toBe("personal");
    expect(() => engine.inspectText("hello", { declaredDataClass: "top-secret" })).toThrow(
      /x-bastion-data-class must be one of public, internal, personal, secret/,
    );
  });

  it("inspects every text a request carries: messages, tool-call arguments, tool results, echoed reasoning", () => {
    const inspection = engine.inspect(
      request([
        { role: "system", content: "You are helpful." },
        { role: "user", content: "Look up my account" },
        {
          role: "assistant",
          content: "",
          reasoning: "The user is M. Girard",
          toolCalls: [{ id: "c1", name: "lookup", arguments: '{"iban":"FR1420041010050500013M02606"}' }],
        },
        { role: "tool", toolCallId: "c1", content: "owner email: girard@example.fr" },
      ]),
    );
    expect(inspection.detections.map((d) => [d.path, d.type])).toEqual([
      ["messages[2].reasoning", "person"],
      ["messages[2].tool_calls[0].arguments", "iban"],
      ["messages[3].content", "email"],
    ]);
  });
});

describe("configured policies", () => {
  it("block with a machine-readable reason; custom keywords and patterns with their class", () => {
    const configured = createPolicyEngine(
      policies({
        default: "strict",
        definitions: {
          strict: {
            classes: { internal: { action: "block" }, secret: { action: "block" } },
            custom: [
              { name: "codename", keywords: ["Orion"] },
              { name: "ticket", pattern: "\\bSEC-\\d{4}\\b", class: "secret" },
            ],
          },
        },
      }),
    );
    const internal = configured.inspectText("Status of orion?");
    expect(internal).toMatchObject({ dataClass: "internal", action: "block", reason: "internal_detected" });
    expect(internal.detections[0]).toMatchObject({ type: "custom", subtype: "codename", value: "orion" });
    expect(configured.inspectText("Orionids are meteors").detections).toEqual([]);
    const secret = configured.inspectText("see SEC-1234");
    expect(secret).toMatchObject({ dataClass: "secret", action: "block", reason: "secret_detected" });
    expect(egressFor(secret, local)).toBe("denied");
    expect(summarise(secret, "denied").summary).toBe("1 custom match detected; blocked (secret_detected)");
    expect(policyDenied(secret).reason).toBe("secret_detected");
    // The built-in policies stay available by name.
    expect(configured.names()).toEqual(
      expect.arrayContaining(["eu-strict", "local-only", "eu-open", "strict"]),
    );
  });

  it("detectors can be turned off per policy; backends lists and zones restrict raw egress", () => {
    const configured = createPolicyEngine(
      policies({
        definitions: {
          "no-ip": {
            detectors: { ip_address: false },
            classes: { personal: { action: "keep-local", backends: ["scaleway"], zones: ["EU"] } },
          },
        },
      }),
    );
    expect(configured.inspectText("host 10.1.2.3", { policy: "no-ip" }).detections).toEqual([]);
    const inspection = configured.inspectText("x@example.fr", { policy: "no-ip" });
    expect(egressFor(inspection, eu)).toBe("raw");
    expect(egressFor(inspection, { ...eu, id: "ovh" })).toBe("denied");
    expect(egressFor(inspection, local)).toBe("denied");
  });

  it("config errors name the key path", () => {
    expect(() => loadConfigFrom({ policies: { default: "nope" } })).toThrow(
      /policies\.default: no policy named "nope"/,
    );
    expect(() =>
      loadConfigFrom({ policies: { definitions: { p: { classes: { personal: { action: "encrypt" } } } } } }),
    ).toThrow(/policies\.definitions\.p\.classes\.personal\.action/);
    expect(() =>
      loadConfigFrom({ policies: { definitions: { p: { custom: [{ name: "x", pattern: "([" }] } } } }),
    ).toThrow(/policies\.definitions\.p\.custom\.0\.pattern: not a valid regular expression/);
    expect(() =>
      loadConfigFrom({
        policies: { definitions: { p: { classes: { personal: { action: "allow", zones: ["eu"] } } } } },
      }),
    ).toThrow(/policies\.definitions\.p\.classes\.personal\.zones: "any" or a list of zones among local, EU/);
  });
});

describe("fail closed", () => {
  it("a detector that throws denies the request with reason policy_error, without the text in the message", () => {
    const failing = createPolicyEngine(policies(), {
      detectors: [
        {
          name: "broken",
          detect() {
            throw new Error("model crashed on secret.person@example.fr");
          },
        },
      ],
    });
    let caught: unknown;
    try {
      failing.inspectText("mail secret.person@example.fr");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PolicyDeniedError);
    expect((caught as PolicyDeniedError).status).toBe(403);
    expect((caught as PolicyDeniedError).reason).toBe("policy_error");
    expect((caught as Error).message).not.toContain("secret.person");
  });

  it("a request whose texts cannot be read is denied, not passed through", () => {
    const broken = {
      model: "m",
      sampling: {},
      messages: [
        {
          role: "user",
          get content(): string {
            throw new TypeError("not a string");
          },
        },
      ],
    } as unknown as ChatRequest;
    expect(() => engine.inspect(broken)).toThrow(
      expect.objectContaining({ status: 403, reason: "policy_error" }),
    );
  });

  it("an unknown policy name denies; an inspection with an unknown action is denied egress", () => {
    expect(() => engine.inspectText("hi", { policy: "missing" })).toThrow(PolicyDeniedError);
    const inspection = engine.inspectText("hi");
    expect(egressFor({ ...inspection, action: "encrypt" as never }, local)).toBe("denied");
    expect(egressFor({ ...inspection, action: "keep-local", allowed: null as never }, local)).toBe("denied");
  });
});

describe("checkText (bastion policy check, POST /admin/v1/policies/check)", () => {
  it("masks values and states the decision", () => {
    const result = checkText(engine, "IBAN DE89 3704 0044 0532 0130 00, mail anna.schmidt@example.de");
    expect(result.detections).toEqual([
      { type: "iban", start: 5, end: 32, masked: "DE***********************00", score: 1 },
      { type: "email", start: 39, end: 62, masked: "a***********@example.de", score: 0.95 },
    ]);
    expect(result.decision).toMatchObject({
      policy: "eu-strict",
      dataClass: "personal",
      action: "pseudonymise",
    });
    expect(JSON.stringify(result)).not.toContain("0532");
  });
});

/** The real loader on a real file, so that the messages are those a user sees. */
function loadConfigFrom(raw: unknown) {
  const directory = mkdtempSync(join(tmpdir(), "bastion-policy-"));
  const file = join(directory, "config.json");
  writeFileSync(file, JSON.stringify(raw));
  try {
    return loadConfig({ file, env: {} });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

describe("custom keyword lists", () => {
  const withKeywords = () =>
    createPolicyEngine(
      policies({
        definitions: { k: { custom: [{ name: "codename", keywords: ["Orion", "Kestrel-9", "Ärger"] }] } },
      }),
    );

  it("match whole words in any case, also after a letter that lower-cases to two characters", () => {
    const engine = withKeywords();
    const values = (text: string) =>
      engine.inspectText(text, { policy: "k" }).detections.map((d) => [d.start, d.value]);
    expect(values("ORION, kestrel-9 and ärger; not Orionids or xorion")).toEqual([
      [0, "ORION"],
      [7, "kestrel-9"],
      [21, "ärger"],
    ]);
    // "İ" lower-cases to two code units: offsets must still point at the original text.
    expect(values("İİ orion")).toEqual([[3, "orion"]]);
  });

  it("case-sensitive lists match only as written, beside case-insensitive ones", () => {
    const engine = createPolicyEngine(
      policies({
        definitions: {
          k: {
            custom: [
              { name: "exact", keywords: ["Orion"], caseSensitive: true },
              { name: "loose", keywords: ["Bluefin"] },
            ],
          },
        },
      }),
    );
    const found = engine.inspectText("orion Orion BLUEFIN", { policy: "k" }).detections;
    expect(found.map((d) => [d.subtype, d.start])).toEqual([
      ["exact", 6],
      ["loose", 12],
    ]);
  });
});

describe("keyword lists found during the master pass", () => {
  it("find exactly what the keyword expression finds over the whole text, word edges checked", () => {
    // The scanner tries keyword lists only at word starts while it reads the text for the other
    // detectors (and inside the spans they consume); the reference is the expression run over
    // every position, as for patterns. Every other detector is off so only keywords are compared.
    const keywords = ["Orion", "Kestrel-9", "Ärger", "project nightjar", "9lives"];
    const off = Object.fromEntries(
      ["email", "phone", "iban", "payment_card", "ip_address", "national_id", "secret", "person"].map(
        (type) => [type, false],
      ),
    );
    const scanned = createPolicyEngine(
      policies({ default: "k", definitions: { k: { detectors: off, custom: [{ name: "c", keywords }] } } }),
    );
    const reference =
      /(?:[oO][rR][iI][oO][nN]|[kK][eE][sS][tT][rR][eE][lL]-9|[äÄ][rR][gG][eE][rR]|[pP][rR][oO][jJ][eE][cC][tT] [nN][iI][gG][hH][tT][jJ][aA][rR]|9[lL][iI][vV][eE][sS])/g;
    const wordLike = /[\p{L}\p{N}_]/u;
    const pieces = [
      "Orion",
      "ORION",
      "orion",
      "xOrion",
      "Orion2",
      "(",
      "+",
      "-",
      " ",
      ", ",
      "Herr ",
      "Anna ",
      "Tel(",
      "06 12 34 56 78",
      "Kestrel-9",
      "Kestrel-90",
      "Ärger",
      "ärger",
      "project nightjar",
      "Project Nightjar",
      "9lives",
      "sk_",
      "é",
      "Ω",
      "DE89 3704 0044 0532 0130 00",
      "_",
      "IBAN",
      "ABCDEF",
      "\n",
    ];
    let seed = 11;
    const random = (limit: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % limit;
    };
    let found = 0;
    for (let round = 0; round < 400; round++) {
      const text = Array.from({ length: 3 + random(12) }, () => pieces[random(pieces.length)]).join("");
      const expected: Array<[number, string]> = [];
      for (const match of text.matchAll(reference)) {
        const before = match.index > 0 ? (text[match.index - 1] as string) : " ";
        const after = text[match.index + match[0].length] ?? " ";
        if (!wordLike.test(before) && !wordLike.test(after)) expected.push([match.index, match[0]]);
      }
      const actual = scanned
        .inspectText(text)
        .detections.map((detection) => [detection.start, detection.value] as [number, string]);
      expect(actual, JSON.stringify(text)).toEqual(expected);
      found += expected.length;
    }
    expect(found).toBeGreaterThan(100);
  });
});
