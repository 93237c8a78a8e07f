import { describe, expect, it } from "vitest";
import { createPolicyEngine } from "../../src/policy/index.ts";
import { corpusPolicies, loadPolicyCorpus } from "./index.ts";

const corpus = loadPolicyCorpus();
const engine = createPolicyEngine(corpusPolicies);

describe("the labelled policy corpus", () => {
  it("has at least 200 prompts in at least four languages, with every detector type planted", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    expect(new Set(corpus.map((prompt) => prompt.language)).size).toBeGreaterThanOrEqual(4);
    const types = new Set(corpus.flatMap((prompt) => prompt.planted.map((planted) => planted.type)));
    expect([...types].sort()).toEqual(
      [
        "custom",
        "email",
        "iban",
        "ip_address",
        "national_id",
        "payment_card",
        "person",
        "phone",
        "secret",
      ].sort(),
    );
    for (const prompt of corpus)
      for (const planted of prompt.planted) expect(prompt.text, prompt.id).toContain(planted.value);
  });

  it("detects every planted value, with its type", () => {
    const missed: string[] = [];
    for (const prompt of corpus) {
      const { detections } = engine.inspectText(prompt.text);
      for (const planted of prompt.planted) {
        const hit = detections.find(
          (detection) => detection.value === planted.value && detection.type === planted.type,
        );
        if (hit === undefined) {
          const near = detections.filter(
            (detection) => detection.value.includes(planted.value) || planted.value.includes(detection.value),
          );
          missed.push(
            `${prompt.id} ${planted.type} ${JSON.stringify(planted.value)} got ${JSON.stringify(near.map((d) => [d.type, d.value]))}`,
          );
        }
      }
    }
    expect(missed).toEqual([]);
  });

  it("flags no checksum-failing lookalike and nothing that was not planted", () => {
    const extra: string[] = [];
    let lookalikes = 0;
    for (const prompt of corpus) {
      lookalikes += prompt.lookalikes.length;
      const { detections } = engine.inspectText(prompt.text);
      for (const detection of detections) {
        if (prompt.planted.some((planted) => planted.value === detection.value)) continue;
        extra.push(`${prompt.id} ${detection.type}/${detection.subtype} ${JSON.stringify(detection.value)}`);
      }
    }
    expect(lookalikes).toBeGreaterThan(50);
    expect(extra).toEqual([]);
  });
});
