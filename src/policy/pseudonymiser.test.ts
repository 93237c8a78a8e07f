import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { ChatRequest } from "../core/chat.ts";
import { createPolicyEngine } from "./policy-engine.ts";
import { createPseudonymiser } from "./pseudonymiser.ts";

const engine = createPolicyEngine(configSchema.parse({}).policies);

const request: ChatRequest = {
  model: "m",
  sampling: {},
  messages: [
    { role: "system", content: "Answer in French." },
    {
      role: "user",
      content:
        'Écris à claire.dupont@example.fr (copie "a\\b"@x) et à claire.dupont@example.fr ; Mme Dupont attend.',
    },
    {
      role: "assistant",
      content: "",
      toolCalls: [
        {
          id: "c1",
          name: "send",
          arguments: '{"to":"claire.dupont@example.fr","iban":"DE89 3704 0044 0532 0130 00"}',
        },
      ],
    },
    { role: "tool", toolCallId: "c1", content: "sent to claire.dupont@example.fr; Dupont notified" },
  ],
};

describe("the pseudonymiser", () => {
  const inspection = engine.inspect(request);
  const pseudonymiser = createPseudonymiser(inspection);
  const masked = pseudonymiser.mask(request);
  const all = JSON.stringify(masked);

  it("replaces every detected value with a typed placeholder, the same value with the same one", () => {
    expect(masked.messages[1]?.content).toBe(
      'Écris à ⟦EMAIL_1⟧ (copie "a\\b"@x) et à ⟦EMAIL_1⟧ ; Mme ⟦PERSON_1⟧ attend.',
    );
    expect(masked.messages[3]?.content).toBe("sent to ⟦EMAIL_1⟧; ⟦PERSON_1⟧ notified");
    expect(all).not.toContain("claire.dupont");
    expect(all).not.toContain("Dupont");
    expect(all).not.toContain("0532");
    expect(pseudonymiser.counts()).toEqual({ email: 1, person: 1, iban: 1 });
    // The evidence reports what was pseudonymised: the placeholders issued, not the occurrences.
    expect(inspection.counts).toEqual(pseudonymiser.counts());
    // The original request is left as it was.
    expect(request.messages[1]?.content).toContain("claire.dupont@example.fr");
  });

  it("keeps tool-call arguments valid JSON", () => {
    const message = masked.messages[2];
    const args = message?.role === "assistant" ? message.toolCalls?.[0]?.arguments : undefined;
    expect(JSON.parse(args ?? "")).toEqual({ to: "⟦EMAIL_1⟧", iban: "⟦IBAN_1⟧" });
  });

  it("restores whole texts, and leaves unknown placeholders alone", () => {
    expect(pseudonymiser.restore("Mail ⟦EMAIL_1⟧ for ⟦PERSON_1⟧, not ⟦EMAIL_9⟧.")).toBe(
      "Mail claire.dupont@example.fr for Dupont, not ⟦EMAIL_9⟧.",
    );
  });

  it("restores streamed deltas with placeholders split anywhere across chunks", () => {
    const answer = "Bien reçu ⟦PERSON_1⟧, j'écris à ⟦EMAIL_1⟧ et ⟦IBAN_1⟧ ⟦ fin ⟦";
    const expected =
      "Bien reçu Dupont, j'écris à claire.dupont@example.fr et DE89 3704 0044 0532 0130 00 ⟦ fin ⟦";
    for (const size of [1, 2, 3, 5, 7]) {
      const restorer = pseudonymiser.createRestorer();
      let out = "";
      for (let index = 0; index < answer.length; index += size)
        out += restorer.push(answer.slice(index, index + size));
      out += restorer.flush();
      expect(out, `chunks of ${size}`).toBe(expected);
    }
    // Nothing is held back when no placeholder can be pending.
    expect(pseudonymiser.createRestorer().push("plain text")).toBe("plain text");
  });

  it("restores inside tool-call argument JSON, escaping values and accepting escaped brackets", () => {
    const tricky = createPseudonymiser({
      ...inspection,
      detections: [
        {
          type: "secret",
          subtype: "assigned_secret",
          path: "text",
          start: 0,
          end: 9,
          value: 'pa"ss\\wd',
          score: 1,
        },
      ],
    });
    tricky.mask({ model: "m", sampling: {}, messages: [{ role: "user", content: 'pa"ss\\wd' }] });
    const restored = tricky.restoreArguments('{"a":"⟦SECRET_1⟧","b":"\\u27e6SECRET_1\\u27e7"}');
    expect(JSON.parse(restored)).toEqual({ a: 'pa"ss\\wd', b: 'pa"ss\\wd' });
  });
});
