import { describe, expect, it } from "vitest";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { type Candidate, createRouter, orderCandidates } from "./router.ts";

const place = (zone: string) => ({ country: "FR", zone, operator: "x" });

function candidate(backendId: string, price: number, weight = 1): Candidate {
  return {
    backendId,
    kind: "remote",
    model: "m",
    target: createScriptedBackend({ id: backendId }),
    jurisdiction: place("EU"),
    pricing: { inputPerMillion: price, outputPerMillion: price },
    weight,
  };
}

const a = candidate("a", 3, 1);
const b = candidate("b", 1, 3);
const c = candidate("c", 2, 0);

describe("orderCandidates", () => {
  it("keeps route order for priority", () => {
    expect(orderCandidates([a, b, c], "priority", () => 0).map((x) => x.backendId)).toEqual(["a", "b", "c"]);
  });

  it("puts the cheapest first and keeps the rest as fallbacks", () => {
    expect(orderCandidates([a, b, c], "cheapest", () => 0).map((x) => x.backendId)).toEqual(["b", "c", "a"]);
  });

  it("puts the least busy first, route order breaking ties", () => {
    const load = new Map([
      ["a", 4],
      ["b", 2],
      ["c", 2],
    ]);
    expect(
      orderCandidates([a, b, c], "least-busy", (x) => load.get(x.backendId)!).map((x) => x.backendId),
    ).toEqual(["b", "c", "a"]);
  });

  it("picks by weight, never a zero-weight candidate first, and falls back to the others", () => {
    // Total weight 4: a covers [0, 1), b covers [1, 4).
    expect(
      orderCandidates(
        [a, b, c],
        "weighted",
        () => 0,
        () => 0.1,
      ).map((x) => x.backendId),
    ).toEqual(["a", "b", "c"]);
    expect(
      orderCandidates(
        [a, b, c],
        "weighted",
        () => 0,
        () => 0.5,
      ).map((x) => x.backendId),
    ).toEqual(["b", "a", "c"]);
    expect(
      orderCandidates(
        [a, b, c],
        "weighted",
        () => 0,
        () => 0.999,
      ).map((x) => x.backendId),
    ).toEqual(["b", "a", "c"]);
  });
});

describe("createRouter", () => {
  const local = createStaticRegistry([createScriptedBackend({ id: "tiny", aliases: ["small"] })]);
  const remote = new Map([
    [
      "eu",
      {
        id: "eu",
        jurisdiction: place("EU"),
        pricing: { inputPerMillion: 1, outputPerMillion: 1 },
        forModel: (model: string) => createScriptedBackend({ id: `eu/${model}` }),
      },
    ],
  ]);
  const localPlace = { jurisdiction: place("local"), pricing: { inputPerMillion: 0, outputPerMillion: 0 } };

  it("resolves a route, a local alias and a direct backend/model", async () => {
    const router = createRouter({
      routes: {
        chat: { strategy: "priority", candidates: ["eu/big", { target: "local/small", weight: 2 }] },
      },
      local,
      localPlace,
      remote,
    });
    const route = await router.resolve("chat");
    expect(route.candidates.map((x) => `${x.backendId}/${x.model}`)).toEqual(["eu/big", "local/tiny"]);
    expect(route.candidates[1]!.weight).toBe(2);
    expect((await router.resolve("small")).candidates[0]).toMatchObject({
      backendId: "local",
      model: "tiny",
    });
    expect((await router.resolve("eu/other")).candidates[0]).toMatchObject({
      backendId: "eu",
      model: "other",
    });
    await expect(router.resolve("nope")).rejects.toThrow(
      /The model 'nope' does not exist \(available models: tiny, chat\)/,
    );
  });

  it("refuses a route naming an unknown backend or local model, with the key path", () => {
    expect(() =>
      createRouter({
        routes: { chat: { strategy: "priority", candidates: ["us/x"] } },
        local,
        localPlace,
        remote,
      }),
    ).toThrow(
      /routes\.chat\.candidates\[0\]: "us\/x": no backend "us" is configured \(backends: local, eu\)/,
    );
    expect(() =>
      createRouter({
        routes: { chat: { strategy: "priority", candidates: ["eu/x", "local/huge"] } },
        local,
        localPlace,
        remote,
      }),
    ).toThrow(/routes\.chat\.candidates\[1\]: "local\/huge": no local model "huge"/);
  });
});
