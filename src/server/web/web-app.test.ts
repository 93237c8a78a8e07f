import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Auth, createAuth, ensureDefaultTenant } from "../../auth/index.ts";
import { configSchema } from "../../config/config.ts";
import { anonymousPrincipal } from "../../core/principal.ts";
import type { Store } from "../../store/database.ts";
import { testDatabases } from "../../store/test-databases.ts";
import { createApp } from "../app.ts";
import { createScriptedBackend, createStaticRegistry } from "../testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../testing/start-server.ts";

/** Pulls the page's asset URLs out of its HTML. */
function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((match) => match[1]!);
}

describe("web app assets", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const registry = createStaticRegistry([createScriptedBackend({ id: "chat-model" })]);
    server = await startServer(createApp({ registry }));
  });
  afterAll(async () => {
    await server.close();
  });

  it("serves the page with a CSP that allows only this origin's scripts and the import map by hash", async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const csp = response.headers.get("content-security-policy") ?? "";
    const hash = /script-src 'self' 'sha256-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(hash).toBeDefined();
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await response.text();
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
      (match) => match[1]!,
    );
    // The only inline script is the import map, and the CSP names exactly its hash.
    expect(inline).toHaveLength(1);
    const { createHash } = await import("node:crypto");
    expect(createHash("sha256").update(inline[0]!).digest("base64")).toBe(hash);
    expect(JSON.parse(inline[0]!).imports.preact).toMatch(
      /^\/assets\/vendor\/preact@[\d.]+\/dist\/preact\.mjs$/,
    );
  });

  it("serves every asset the page names, gzipped, with a year of caching and working revalidation", async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const urls = assetUrls(html);
    expect(urls.length).toBeGreaterThan(10);
    let gzipped = 0;
    for (const url of urls) {
      const response = await fetch(`${server.url}${url}`, { headers: { "accept-encoding": "gzip" } });
      expect(response.status, url).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      gzipped += Number(response.headers.get("content-length"));
      await response.arrayBuffer();
      const etag = response.headers.get("etag")!;
      const again = await fetch(`${server.url}${url}`, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    }
    // Everything preloaded for the chat's first load, gzipped: far under the 300 KB budget.
    expect(gzipped).toBeLessThan(300 * 1024);
  });

  it("turns highlight.js's CommonJS into an ES module, and serves nothing outside its allow-list", async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const core = assetUrls(html).find(
      (url) => url.includes("highlight.js@") && url.endsWith("/lib/core.js"),
    )!;
    const raw = await fetch(`${server.url}${core}`, { headers: { "accept-encoding": "identity" } });
    const text = await raw.text();
    expect(text.startsWith("const module = { exports: {} };")).toBe(true);
    expect(text.trimEnd().endsWith("export default module.exports;")).toBe(true);
    const prefix = core.replace("lib/core.js", "");
    for (const path of [
      `${prefix}package.json`,
      `${prefix}lib/../package.json`,
      `${prefix}lib/%2e%2e/package.json`,
      "/assets/vendor/preact@0.0.1/dist/preact.mjs",
      "/assets/vendor/pg@8.0.0/lib/index.js",
      "/assets/app/0000/main.js",
    ]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect((await response.json()).error.code).toBe("not_found");
    }
  });

  it("answers gzip only to clients that accept it", async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const main = assetUrls(html).find((url) => url.endsWith("/main.js"))!;
    const { request } = await import("node:http");
    const body = await new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolve, reject) => {
      request(`${server.url}${main}`, { headers: { "accept-encoding": "gzip" } }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ encoding: response.headers["content-encoding"], bytes: Buffer.concat(chunks) }),
        );
      })
        .on("error", reject)
        .end();
    });
    expect(body.encoding).toBe("gzip");
    expect(gunzipSync(body.bytes).toString("utf8")).toContain("render(");
  });
});

describe.each(testDatabases())("conversations API on $name", ({ open }) => {
  let store: Store;
  let auth: Auth;
  let server: RunningServer;
  let alice: string;
  let bob: string;
  let aliceId: string;
  let adminKey: string;

  beforeAll(async () => {
    store = await open();
    await ensureDefaultTenant(store);
    const config = configSchema.parse({});
    auth = createAuth({ store, config, env: {} });
    const registry = createStaticRegistry([createScriptedBackend({ id: "chat-model" })]);
    server = await startServer(createApp({ registry, auth, web: { store, admin: auth.admin } }));
    adminKey = (await auth.admin.createKey(anonymousPrincipal, { name: "admin", roles: ["admin"] })).secret;
    const a = await auth.admin.createUser(anonymousPrincipal, {
      email: "alice@example.eu",
      roles: ["member"],
    });
    const b = await auth.admin.createUser(anonymousPrincipal, { email: "bob@example.eu", roles: ["member"] });
    aliceId = a.id;
    alice = (await auth.admin.createKey(anonymousPrincipal, { name: "alice", user_id: a.id })).secret;
    bob = (await auth.admin.createKey(anonymousPrincipal, { name: "bob", user_id: b.id })).secret;
  });
  afterAll(async () => {
    await server.close();
    await store.destroy();
  });

  const call = (key: string, method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("requires a credential", async () => {
    for (const path of ["/app/api/conversations", "/app/api/models"]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(401);
    }
  });

  it("tells any signed-in user where each model runs and what it costs", async () => {
    const response = await call(bob, "GET", "/app/api/models");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      object: "list",
      data: [
        {
          id: "chat-model",
          jurisdiction: { country: "FR", zone: "EU", operator: "test" },
          local: false,
          pricing: { input_per_million_eur: 0, output_per_million_eur: 0 },
        },
      ],
    });
  });

  it("keeps each user's conversations to themselves, and exports them as Markdown and JSON", async () => {
    const created = await call(alice, "POST", "/app/api/conversations", {
      title: "Budget 2027",
      model: "chat-model",
    });
    expect(created.status).toBe(201);
    const conversation = (await created.json()) as { id: string };
    const question = (await (
      await call(alice, "POST", `/app/api/conversations/${conversation.id}/messages`, {
        parent_id: null,
        role: "user",
        content: "What is our budget?",
      })
    ).json()) as { id: string };
    const answer = await call(alice, "POST", `/app/api/conversations/${conversation.id}/messages`, {
      parent_id: question.id,
      role: "assistant",
      content: "**42 k€**, see $x^2$.",
      reasoning: "Add it up.",
      meta: {
        passport: { backend: "chat-model", jurisdiction: { country: "FR" }, policy: { summary: "allowed" } },
      },
    });
    expect(answer.status).toBe(201);

    const list = (await (await call(alice, "GET", "/app/api/conversations?q=budget")).json()) as {
      data: Array<{ id: string }>;
    };
    expect(list.data.map((entry) => entry.id)).toEqual([conversation.id]);
    expect(
      ((await (await call(bob, "GET", "/app/api/conversations")).json()) as { data: unknown[] }).data,
    ).toEqual([]);
    for (const [method, path] of [
      ["GET", `/app/api/conversations/${conversation.id}`],
      ["DELETE", `/app/api/conversations/${conversation.id}`],
      ["GET", `/app/api/conversations/${conversation.id}/export?format=json`],
    ] as const) {
      expect((await call(bob, method, path)).status, `${method} ${path}`).toBe(404);
    }
    expect(
      (await call(bob, "PATCH", `/app/api/conversations/${conversation.id}`, { title: "x" })).status,
    ).toBe(404);

    const markdown = await call(alice, "GET", `/app/api/conversations/${conversation.id}/export?format=md`);
    expect(markdown.headers.get("content-type")).toContain("text/markdown");
    expect(markdown.headers.get("content-disposition")).toContain("Budget%202027.md");
    const text = await markdown.text();
    expect(text).toContain("# Budget 2027");
    expect(text).toContain("## You");
    expect(text).toContain("**42 k€**");
    expect(text).toContain("> Computed by chat-model, FR; policy: allowed");
    const json = (await (
      await call(alice, "GET", `/app/api/conversations/${conversation.id}/export?format=json`)
    ).json()) as { messages: Array<{ role: string; reasoning: string | null }> };
    expect(json.messages.map((message) => message.role)).toEqual(["user", "assistant"]);
    expect(json.messages[1]!.reasoning).toBe("Add it up.");
  });

  it("refuses bad input with a message that says what to fix", async () => {
    const conversation = (await (await call(alice, "POST", "/app/api/conversations", {})).json()) as {
      id: string;
      title: string;
    };
    expect(conversation.title).toBe("New conversation");
    const cases: Array<[string, string, unknown, number, string]> = [
      ["PATCH", `/app/api/conversations/${conversation.id}`, { title: "  " }, 400, "title"],
      ["PATCH", `/app/api/conversations/${conversation.id}`, { colour: "red" }, 400, "colour"],
      [
        "POST",
        `/app/api/conversations/${conversation.id}/messages`,
        { parent_id: null, role: "robot", content: "x" },
        400,
        "role",
      ],
      [
        "POST",
        `/app/api/conversations/${conversation.id}/messages`,
        { parent_id: "msg_elsewhere", role: "user", content: "x" },
        400,
        "parent_id",
      ],
      ["GET", `/app/api/conversations/${conversation.id}/export?format=pdf`, undefined, 400, "format"],
    ];
    for (const [method, path, body, status, mention] of cases) {
      const response = await call(alice, method, path, body);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      const error = ((await response.json()) as { error: { message: string } }).error;
      expect(error.message).toContain(mention);
    }
    const notJson = await fetch(`${server.url}/app/api/conversations`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "text/plain" },
      body: "hello",
    });
    expect(notJson.status).toBe(415);
    const broken = await fetch(`${server.url}/app/api/conversations`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: "{",
    });
    expect(broken.status).toBe(400);
  });

  it("deletes a user's conversations when the admin erases the user", async () => {
    expect(
      ((await (await call(alice, "GET", "/app/api/conversations")).json()) as { data: unknown[] }).data
        .length,
    ).toBeGreaterThan(0);
    const erased = await call(adminKey, "DELETE", `/admin/v1/users/${aliceId}?erase=true`);
    expect(erased.status).toBeLessThan(300);
    const rows = await store.db
      .selectFrom("web_conversations")
      .select("id")
      .where("owner_id", "=", aliceId)
      .execute();
    expect(rows).toEqual([]);
    const messages = await store.db
      .selectFrom("web_messages")
      .select("id")
      .where("content", "like", "%budget%")
      .execute();
    expect(messages).toEqual([]);
  });
});
