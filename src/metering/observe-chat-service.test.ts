import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { Jurisdiction } from "../core/backend.ts";
import type { ChatStreamPart } from "../core/chat.ts";
import type { ChatService } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import { openStore } from "../store/database.ts";
import { observeChatService } from "./observe-chat-service.ts";
import { createOccupancyTracker } from "./occupancy.ts";
import { createMeteringServices } from "./services.ts";

/** Stands in for the gateway: answers from a named backend in a given place. */
function gatewayLike(backend: string, jurisdiction: Jurisdiction, fail?: "before" | "during"): ChatService {
  return {
    async open(request) {
      if (fail === "before") throw new BastionError("forbidden", "blocked by policy");
      async function* parts(): AsyncIterable<ChatStreamPart> {
        yield { type: "text-delta", text: "ok" };
        if (fail === "during") throw new BastionError("upstream_error", "upstream broke");
        yield {
          type: "finish",
          finishReason: "stop",
          usage: { promptTokens: 1000, completionTokens: 1000, reasoningTokens: 0, cachedPromptTokens: 0 },
          timings: { queueMs: 0, promptMs: 100, generationMs: 900 },
        };
      }
      return {
        model: { id: request.model } as never,
        evidence: () => ({
          backend,
          jurisdiction,
          policy: {
            policy: "p",
            dataClass: "personal",
            action: "allow",
            detections: { email: 1 },
            summary: "",
          },
        }),
        parts: parts(),
      };
    },
  };
}

async function drain(service: ChatService, model: string) {
  const session = await service.open(
    { model, messages: [{ role: "user", content: "x" }], sampling: {} },
    {
      signal: new AbortController().signal,
      requestId: `r-${model}-${Math.random()}`,
      endpoint: "/v1/chat/completions",
    },
  );
  for await (const _ of session.parts);
  return session.evidence();
}

describe("metering a gateway's answers", () => {
  it("tells local from remote by the gateway's backend list, prices remote ones from their table, and records failures", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "bastion-observe-"));
    const store = await openStore({ sqlitePath: ":memory:" });
    const services = createMeteringServices({
      config: configSchema.parse({ metering: { local: { eurPerHour: 3.6, powerWatts: 100 } } }),
      store,
      dataDir,
      backends: {
        backends: async () => [
          {
            id: "local",
            kind: "local",
            pricing: { inputPerMillion: 0, outputPerMillion: 0 },
            models: ["tiny"],
          },
          { id: "eu", kind: "remote", pricing: { inputPerMillion: 1, outputPerMillion: 3 }, models: [] },
        ],
      },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 10)); // the backend list loads at start
      // A local model whose place is configured as France: still the self-hosted cost model.
      const local = await drain(
        services.observe(gatewayLike("tiny", { country: "FR", zone: "EU", operator: "us" })),
        "tiny",
      );
      // 1 s busy at EUR 3.6/h, plus 100 W for 1 s at EUR 0.19/kWh.
      expect(local.usage?.costEur).toBeCloseTo(0.001 + (100 / 3600 / 1000) * 0.19, 12);
      const remote = await drain(
        services.observe(gatewayLike("eu/mistral-small", { country: "FR", zone: "EU", operator: "x" })),
        "small",
      );
      expect(remote.usage?.costEur).toBeCloseTo((1000 * 1 + 1000 * 3) / 1e6, 12);
      await expect(
        drain(
          services.observe(gatewayLike("eu/m", { country: "FR", zone: "EU", operator: "x" }, "during")),
          "m",
        ),
      ).rejects.toThrow(/upstream broke/);
      await expect(
        drain(
          services.observe(gatewayLike("eu/m", { country: "FR", zone: "EU", operator: "x" }, "before")),
          "m",
        ),
      ).rejects.toThrow(/blocked/);
      await new Promise((resolve) => setTimeout(resolve, 50)); // failures are recorded after the fact
      const rows = await store.db
        .selectFrom("usage_records")
        .select(["backend", "backend_kind", "status", "error_code"])
        .orderBy("created_at")
        .execute();
      expect(rows.map((row) => [row.backend_kind, row.status, row.error_code])).toEqual([
        ["local", "ok", null],
        ["remote", "ok", null],
        ["remote", "error", "upstream_error"],
        ["local", "blocked", "forbidden"],
      ]);
      expect(await services.verifyAudit()).toMatchObject({ ok: true, records: 4 });
    } finally {
      await services.close();
      await store.destroy();
    }
  });

  it("withholds the answer's finish when its records cannot be written", async () => {
    const failures: unknown[] = [];
    const service = observeChatService(
      gatewayLike("tiny", { country: "local", zone: "local", operator: "us" }),
      {
        record: async () => {
          throw new Error("disk full");
        },
        occupancy: createOccupancyTracker(),
        onError: (error) => failures.push(error),
      },
    );
    const session = await service.open(
      { model: "tiny", messages: [{ role: "user", content: "x" }], sampling: {} },
      { signal: new AbortController().signal, requestId: "r-fail", endpoint: "/v1/chat/completions" },
    );
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const part of session.parts) seen.push(part.type);
      })(),
    ).rejects.toMatchObject({
      code: "internal_error",
      message: expect.stringMatching(/audit record could not be written/),
    });
    expect(seen).toEqual(["text-delta"]);
    expect(failures).toHaveLength(1);
  });
});
