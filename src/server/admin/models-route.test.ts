import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeGguf } from "../../../test/fake-hf/gguf-fixture.ts";
import { type FakeHf, startFakeHf } from "../../../test/fake-hf/server.ts";
import { type Auth, createAuth, ensureDefaultTenant } from "../../auth/index.ts";
import { configSchema } from "../../config/config.ts";
import { anonymousPrincipal } from "../../core/principal.ts";
import { syntheticTestModel } from "../../models/testing.ts";
import { createPlatform, type Platform } from "../../platform.ts";
import { openStore, type Store } from "../../store/database.ts";
import { createApp } from "../app.ts";
import { type RunningServer, startServer } from "../testing/start-server.ts";

/** The SSE events of a body as `{event, data}`, in order. */
function sseEvents(body: string): Array<{ event: string; data: unknown }> {
  return body
    .split(/\n\n/)
    .filter((block) => block.includes("data:"))
    .map((block) => {
      const lines = block.split("\n");
      const event =
        lines
          .find((line) => line.startsWith("event:"))
          ?.slice(6)
          .trim() ?? "message";
      const data = lines
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      return { event, data: JSON.parse(data) };
    });
}

describe("admin model routes", () => {
  let fake: FakeHf;
  let dir: string;
  let store: Store;
  let auth: Auth;
  let platform: Platform;
  let server: RunningServer;
  let adminKey: string;
  let memberKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bastion-models-route-"));
    const weights = makeGguf({
      metadata: { "general.architecture": "qwen2", "general.name": "Pulled", "qwen2.context_length": 4096 },
      tensors: [{ name: "token_embd.weight", dims: [16, 8] }],
      padBytes: 400_000,
    });
    const tinyWeights = await readFile(await syntheticTestModel("tiny"));
    fake = await startFakeHf({
      repos: [
        {
          id: "acme/Tiny-GGUF",
          license: "apache-2.0",
          files: [{ path: "Tiny-Q8_0.gguf", content: tinyWeights }],
        },
        {
          id: "acme/Pulled-GGUF",
          license: "apache-2.0",
          files: [{ path: "Pulled-Q8_0.gguf", content: weights }],
        },
      ],
    });
    const config = configSchema.parse({
      engine: { threads: 1, gpu: false },
      models: {
        entries: [{ id: "tiny", path: await syntheticTestModel("tiny"), aliases: ["small"] }],
        contextSize: 512,
        idleUnloadSeconds: 0,
      },
    });
    store = await openStore({ sqlitePath: ":memory:" });
    await ensureDefaultTenant(store);
    platform = await createPlatform(config, { store });
    auth = createAuth({ store, config, env: {} });
    server = await startServer(
      createApp({
        registry: platform.registry,
        auth,
        web: false,
        models: {
          pool: platform.pool,
          hubEndpoint: fake.url,
          modelsDir: join(dir, "models"),
          serve: platform.serveModel,
        },
      }),
    );
    adminKey = (await auth.admin.createKey(anonymousPrincipal, { name: "admin", roles: ["admin"] })).secret;
    memberKey = (await auth.admin.createKey(anonymousPrincipal, { name: "member", roles: ["member"] }))
      .secret;
  });
  afterAll(async () => {
    await server.close();
    await platform.dispose();
    await store.destroy();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, key: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("pulls a model with live progress events, then done", async () => {
    const response = await post("/admin/v1/models/pull", adminKey, { ref: "hf:acme/Pulled-GGUF:q8_0" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = sseEvents(await response.text());
    const progress = events.filter((entry) => entry.event === "progress");
    expect(progress.length).toBeGreaterThan(0);
    const last = progress.at(-1)!.data as { file: string; downloadedBytes: number; done?: boolean };
    expect(last).toMatchObject({ file: "Pulled-Q8_0.gguf", done: true });
    expect(last.downloadedBytes).toBeGreaterThan(400_000);
    const done = events.at(-1)!;
    expect(done.event).toBe("done");
    // Not a loadable model (one tensor): in the store, and the reason it is not served.
    expect(done.data).toMatchObject({ downloaded: true, served: false });
    expect((done.data as { message: string }).message).toMatch(/not served: .*cannot load/);
    const id = (done.data as { id: string }).id;
    expect(existsSync(join(dir, "models", id, "Pulled-Q8_0.gguf"))).toBe(true);
  });

  it("serves a pulled model at once, without a restart", async () => {
    const response = await post("/admin/v1/models/pull", adminKey, { ref: "hf:acme/Tiny-GGUF:q8_0" });
    const done = sseEvents(await response.text()).at(-1)!;
    expect(done.event).toBe("done");
    expect(done.data).toMatchObject({ downloaded: true, served: true });
    const id = (done.data as { id: string }).id;
    const listed = (await (
      await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${adminKey}` } })
    ).json()) as { data: Array<{ id: string }> };
    expect(listed.data.map((model) => model.id)).toContain(id);
    const chat = await post("/v1/chat/completions", adminKey, {
      model: id,
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 4,
    });
    expect(chat.status).toBe(200);
    const body = (await chat.json()) as { model: string; usage: { completion_tokens: number } };
    expect(body.model).toBe(id);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    // Pulling it again changes nothing: still served, from the same file.
    const again = sseEvents(
      await (await post("/admin/v1/models/pull", adminKey, { ref: "hf:acme/Tiny-GGUF:q8_0" })).text(),
    ).at(-1)!;
    expect(again.data).toMatchObject({ id, downloaded: false, served: true });
  });

  it("reports a failed pull as the stream's last event, in the API's error shape", async () => {
    const response = await post("/admin/v1/models/pull", adminKey, { ref: "hf:acme/Missing-GGUF:q8_0" });
    const events = sseEvents(await response.text());
    const last = events.at(-1)!;
    expect(last.event).toBe("error");
    expect((last.data as { error: { code: string; message: string } }).error.code).toBe("model_not_found");
  });

  it("refuses bad bodies and non-admins before any work", async () => {
    const bad = await post("/admin/v1/models/pull", adminKey, { reference: "x" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("ref");
    expect((await post("/admin/v1/models/pull", memberKey, { ref: "hf:acme/Pulled-GGUF" })).status).toBe(403);
    expect((await post("/admin/v1/models/tiny/unload", memberKey)).status).toBe(403);
    expect((await fetch(`${server.url}/admin/v1/models/tiny/unload`, { method: "POST" })).status).toBe(401);
    const unknown = await post("/admin/v1/models/nope/unload", adminKey);
    expect(unknown.status).toBe(404);
  });

  it("unloads a loaded model (by alias too), and says when there was nothing to unload", async () => {
    const lease = await platform.pool.acquire("tiny");
    // In use: refused, the model stays.
    const busy = await post("/admin/v1/models/small/unload", adminKey);
    expect(busy.status).toBe(503);
    lease.release();
    expect(platform.pool.isLoaded("tiny")).toBe(true);
    const first = await post("/admin/v1/models/small/unload", adminKey);
    expect(await first.json()).toMatchObject({ id: "tiny", unloaded: true, loaded: false });
    expect(platform.pool.isLoaded("tiny")).toBe(false);
    const again = await post("/admin/v1/models/tiny/unload", adminKey);
    expect(await again.json()).toMatchObject({ id: "tiny", unloaded: false, loaded: false });
  });
});
