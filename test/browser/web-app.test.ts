import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticTestModel } from "../../src/models/testing.ts";
import { makeGguf } from "../fake-hf/gguf-fixture.ts";
import { type FakeHf, startFakeHf } from "../fake-hf/server.ts";
import { type BrowserServer, startBrowserServer } from "./browser-server.ts";

/*
 * End-to-end tests of the web app: Debian's chromium, driven by playwright-core, against a real
 * Bastion (auth, metering, audit, SQLite) serving synthetic models. Screenshots go to
 * .cache/screenshots/ (git-ignored); the README's two screenshots are refreshed from here.
 */

const chromiumPath = process.env.BASTION_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
if (!hasChromium)
  console.warn(`Browser tests skipped: no chromium at ${chromiumPath} (set BASTION_CHROMIUM).`);

const root = join(import.meta.dirname, "../..");
const screenshots = join(root, ".cache/screenshots");
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let server: BrowserServer;
let browser: Browser;
let hub: FakeHf;

/** A fresh context per test, in English, with console errors and page errors collected. */
async function openPage(options: { viewport?: { width: number; height: number }; locale?: string } = {}) {
  const context: BrowserContext = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 800 },
    locale: options.locale ?? "en-GB",
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // A 401 from /auth/* is the sign-in page doing its job (not signed in yet, wrong password).
    const url = message.location().url;
    if (message.text().includes("401") && /\/auth\/(me|login)$/.test(url)) return;
    problems.push(`console: ${message.text()} (${url})`);
  });
  return { context, page, problems };
}

async function signIn(page: Page, credentials: { email: string; password: string } | { apiKey: string }) {
  await page.goto(server.baseUrl);
  if ("apiKey" in credentials) {
    await page.getByRole("button", { name: "Use an API key instead" }).click();
    await page.getByLabel("API key").fill(credentials.apiKey);
  } else {
    await page.getByLabel("Email").fill(credentials.email);
    await page.getByLabel("Password").fill(credentials.password);
  }
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** One answered request through the API, so that usage and audit have something to show. */
async function chatOnce() {
  const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "scripted", messages: [{ role: "user", content: "Salut" }] }),
  });
  expect(response.status).toBe(200);
  await response.json();
}

async function chooseModel(page: Page, id: string) {
  await page.locator("#model-select").selectOption(id);
}

/** axe-core on the current page: no serious or critical violation (labels, contrast, roles). */
async function expectAccessible(page: Page) {
  // The CSP refuses an injected <script>, as it should; the test harness evaluates axe directly.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: (context: unknown, options: unknown) => Promise<unknown> } }
    ).axe;
    return axe.run(document, { resultTypes: ["violations"] });
  });
  const violations = (
    result as { violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }
  ).violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map(
      (violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`,
    );
  expect(violations).toEqual([]);
}

/** A screenshot in .cache/screenshots/; the README's two are refreshed with BASTION_README_SCREENSHOTS=1. */
async function shoot(page: Page, name: string, options: { readme?: boolean } = {}) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`) });
  if (options.readme === true && process.env.BASTION_README_SCREENSHOTS === "1") {
    mkdirSync(join(root, "docs/screenshots"), { recursive: true });
    await page.screenshot({ path: join(root, `docs/screenshots/${name}.png`) });
  }
}

describe.skipIf(!hasChromium)("web app in chromium", () => {
  beforeAll(async () => {
    hub = await startFakeHf({
      repos: [
        {
          // A real (synthetic) model: the console's pull serves it at once.
          id: "acme/Tiny-GGUF",
          license: "apache-2.0",
          files: [{ path: "Tiny-Q8_0.gguf", content: readFileSync(await syntheticTestModel("tiny")) }],
        },
        {
          id: "acme/Pulled-GGUF",
          license: "apache-2.0",
          files: [
            {
              path: "Pulled-Q8_0.gguf",
              content: makeGguf({
                metadata: {
                  "general.architecture": "qwen2",
                  "general.name": "Pulled",
                  "qwen2.context_length": 4096,
                },
                tensors: [{ name: "token_embd.weight", dims: [16, 8] }],
                padBytes: 2_000_000,
              }),
            },
          ],
        },
      ],
    });
    server = await startBrowserServer({
      hubEndpoint: hub.url,
      models: [
        { id: "tiny", preset: "tiny" },
        { id: "scripted", preset: "scripted" },
      ],
    });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
  });

  it("loads the chat in at most 300 KB gzipped, with caching headers and a CSP", async () => {
    const { context, page, problems } = await openPage();
    let transferred = 0;
    const cached: string[] = [];
    page.on("requestfinished", async (request) => {
      const sizes = await request.sizes();
      transferred += sizes.responseBodySize + sizes.responseHeadersSize;
      const response = await request.response();
      if (request.url().includes("/assets/"))
        cached.push((await response?.headerValue("cache-control")) ?? "");
    });
    const response = await page.goto(server.baseUrl);
    await page.getByLabel("Email").waitFor();
    // Time from navigation start to the sign-in form in the page, as the page measures it.
    const usableMs = Math.round(
      await page.evaluate(() => performance.getEntriesByName("bastion:usable")[0]?.startTime ?? Number.NaN),
    );
    expect(usableMs).toBeGreaterThan(0);
    await page.waitForLoadState("networkidle");
    const csp = (await response!.headerValue("content-security-policy")) ?? "";
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(cached.length).toBeGreaterThan(5);
    for (const header of cached) expect(header).toBe("public, max-age=31536000, immutable");
    console.log(
      `first load: ${(transferred / 1024).toFixed(1)} KiB transferred, usable after ${usableMs} ms`,
    );
    writeFileSync(
      join(root, ".cache/web-first-load.json"),
      JSON.stringify({ transferredBytes: transferred, usableMs, at: new Date().toISOString() }, null, 2),
    );
    expect(transferred).toBeLessThanOrEqual(300 * 1024);
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("1: signs in with email and password, and refuses a wrong password", async () => {
    const { context, page, problems } = await openPage();
    await page.goto(server.baseUrl);
    await page.getByLabel("Email").fill(server.users.member.email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Sign-in failed");
    await shoot(page, "signin-failed");
    await page.getByLabel("Password").fill(server.users.member.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    expect(await page.locator(".who").textContent()).toContain("Marie");
    await page
      .getByText("No conversations yet.")
      .or(page.locator(".conversation-list li a").first())
      .waitFor();
    // A member sees no console.
    expect(await page.getByRole("link", { name: "Console" }).count()).toBe(0);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Email").waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  it("goes back to sign-in when the session ends elsewhere", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await page
      .getByText("No conversations yet.")
      .or(page.locator(".conversation-list li a").first())
      .waitFor();
    // The session is closed behind the page's back (another tab signed out, or it expired).
    const me = (await (await page.request.get(`${server.baseUrl}/auth/me`)).json()) as { csrfToken: string };
    const out = await page.request.post(`${server.baseUrl}/auth/logout`, {
      headers: { "x-csrf-token": me.csrfToken },
    });
    expect(out.status()).toBeLessThan(300);
    await page.getByLabel("Search conversations").fill("anything");
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(problems.filter((line) => !/status of 401.*\/app\/api\/conversations/.test(line))).toEqual([]);
    await context.close();
  });

  it("2 and 3: streams an answer token by token, and Esc stops it", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await chooseModel(page, "tiny");
    // Shift+Enter adds a line; Enter sends.
    const composer = page.getByLabel("Message");
    await composer.fill("Write a long story");
    await composer.press("Shift+Enter");
    await composer.pressSequentially("about Lyon.");
    expect(await composer.inputValue()).toBe("Write a long story\nabout Lyon.");
    expect(await page.locator('article[data-role="user"]').count()).toBe(0);
    await composer.press("Enter");
    await page.locator('article[data-role="user"]', { hasText: "about Lyon." }).waitFor();
    const answer = page.locator('article[data-role="assistant"]').last();
    await answer.locator(".markdown").waitFor();
    // Several growing snapshots while the answer is still streaming: tokens arrive one by one.
    const lengths: number[] = [];
    for (let i = 0; i < 3; i++) {
      await expect
        .poll(async () => (await answer.locator(".markdown").textContent())?.length ?? 0, { timeout: 30_000 })
        .toBeGreaterThan(lengths.at(-1) ?? 0);
      lengths.push((await answer.locator(".markdown").textContent())?.length ?? 0);
    }
    expect(await answer.getAttribute("aria-busy")).toBe("true");
    await shoot(page, "chat-streaming");
    await page.keyboard.press("Escape");
    await answer.getByText("Stopped.").waitFor();
    // A stopped answer keeps what the headers said: where it was computed, under which policy.
    expect(await answer.locator(".passport-line").textContent()).toContain("tiny");
    expect(await answer.getAttribute("aria-busy")).toBe("false");
    await page.getByRole("button", { name: "Send" }).waitFor();
    const stoppedLength = (await answer.locator(".markdown").textContent())?.length ?? 0;
    await page.waitForTimeout(500);
    expect((await answer.locator(".markdown").textContent())?.length ?? 0).toBe(stoppedLength);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("5 and 6: the passport shows backend and policy; reasoning folds when the answer starts", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await chooseModel(page, "scripted");
    // The picker says where the model runs, under which licence, at what price.
    await expect.poll(() => page.locator("#model-info").textContent()).toContain("self-hosted");
    expect(await page.locator("#model-info .badge").textContent()).toMatch(/local/);
    await page.getByLabel("Message").fill("Bonjour ?");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator('article[data-role="assistant"]').last();
    const passport = answer.locator(".passport-line");
    await passport.waitFor({ timeout: 60_000 });
    // Reasoning: a folded block titled "Thought for N s" above the answer.
    const reasoning = answer.locator("details.reasoning");
    expect(await reasoning.getAttribute("open")).toBeNull();
    expect(await reasoning.locator("summary").textContent()).toMatch(/^Thought for \d+ s$/);
    expect((await reasoning.locator(".reasoning-text").textContent())?.length).toBeGreaterThan(0);
    expect(await answer.locator(".markdown").textContent()).toContain("Bon");
    await passport.click();
    const details = answer.locator(".passport-details");
    await details.waitFor();
    const text = (await details.textContent()) ?? "";
    expect(text).toContain("Backend");
    expect(text).toContain("scripted");
    const evidence = await (async () => {
      const dd = await details.locator("dt:text('Policy') + dd").textContent();
      return dd ?? "";
    })();
    expect(evidence).not.toBe("");
    expect(evidence).not.toBe("unknown");
    expect(text).toMatch(/Time to first token\s*[\d,.\s]+ ms/);
    await shoot(page, "passport");
    await reasoning.locator("summary").click();
    expect(await reasoning.getAttribute("open")).not.toBeNull();
    await expectAccessible(page);
    await shoot(page, "chat-reasoning");
    expect(problems).toEqual([]);
    await context.close();
  });

  it("5: the passport shows what the policy found in a message with personal data", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await chooseModel(page, "scripted");
    await page.getByLabel("Message").fill("Réponds à jeanne.dupont@example.fr et à paul.martin@example.fr");
    await page.getByLabel("Message").press("Enter");
    const answer = page.locator('article[data-role="assistant"]').last();
    await answer.locator(".passport-line").waitFor({ timeout: 60_000 });
    await answer.locator(".passport-line").click();
    const details = answer.locator(".passport-details");
    expect(await details.locator("dt:text('Data class') + dd").textContent()).toBe("personal");
    expect(await details.locator("dt:text('Detections') + dd").textContent()).toContain("email × 2");
    // The local engine is inside every zone: the policy lets the data through, and says so.
    expect(await details.locator("dt:text('Policy') + dd").textContent()).toMatch(/email/);
    await shoot(page, "chat", { readme: true });
    expect(problems).toEqual([]);
    await context.close();
  });

  it("4: after a reload the conversation is there; rename, export and delete it", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await chooseModel(page, "scripted");
    await page.getByLabel("Message").fill("Plan the offsite in Annecy");
    await page.getByLabel("Message").press("Enter");
    await page.locator('article[data-role="assistant"] .passport-line').last().waitFor({ timeout: 60_000 });
    await page.reload();
    const item = page.locator(".conversation-list li", { hasText: "Plan the offsite in Annecy" });
    await item.waitFor();
    await item.getByRole("link").click();
    await page.locator('article[data-role="user"]', { hasText: "Plan the offsite in Annecy" }).waitFor();

    // Search finds it by a word of the message; a nonsense query finds nothing.
    await page.getByLabel("Search conversations").fill("annecy");
    await expect.poll(() => page.locator(".conversation-list li a").count()).toBe(1);
    await page.getByLabel("Search conversations").fill("zzzz-nothing");
    await page.getByText("No conversations yet.").waitFor();
    await page.getByLabel("Search conversations").fill("");

    page.once("dialog", (dialog) => dialog.accept("Offsite 2027"));
    await item.locator("summary").click();
    await item.getByRole("button", { name: "Rename" }).click();
    const renamed = page.locator(".conversation-list li", { hasText: "Offsite 2027" });
    await renamed.waitFor();

    await renamed.locator("summary").click();
    const downloadPromise = page.waitForEvent("download");
    await renamed.getByRole("button", { name: "Export Markdown" }).click();
    const download = await downloadPromise;
    const markdown = readFileSync((await download.path())!, "utf8");
    expect(download.suggestedFilename()).toBe("Offsite 2027.md");
    expect(markdown).toContain("# Offsite 2027");
    expect(markdown).toContain("Plan the offsite in Annecy");
    expect(markdown).toMatch(/Computed by .*scripted/);

    const href = (await renamed.getByRole("link").getAttribute("href"))!;
    const id = decodeURIComponent(href.replace("#/c/", ""));
    page.once("dialog", (dialog) => dialog.accept());
    await renamed.locator("summary").click();
    await renamed.getByRole("button", { name: "Delete" }).click();
    await expect
      .poll(() => page.locator(".conversation-list li", { hasText: "Offsite 2027" }).count())
      .toBe(0);
    // Erasure is real: the API no longer knows it, and no row of it is left in the store.
    // (Through the context's request API, which shares the session cookie without logging a 404 in the page.)
    const status = (
      await page.request.get(`${server.baseUrl}/app/api/conversations/${encodeURIComponent(id)}`)
    ).status();
    expect(status).toBe(404);
    const rows = await server.store.db
      .selectFrom("web_messages")
      .select("id")
      .where("conversation_id", "=", id)
      .execute();
    expect(rows).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("7: as admin, creates and revokes a key, then sees usage in a chart", async () => {
    await chatOnce();
    const { context, page, problems } = await openPage();
    await signIn(page, { apiKey: server.adminKey });
    await page.getByRole("link", { name: "Console" }).click();
    // The bootstrap admin creates a user, who then appears in the list.
    await page.getByRole("link", { name: "Users" }).click();
    const userForm = page.getByRole("form", { name: "Create: User" });
    await userForm.getByLabel("Email").fill("new.hire@example.eu");
    await userForm.getByLabel("Password").fill("a long enough password");
    await userForm.getByRole("button", { name: "Create" }).click();
    await page.locator("table.data td", { hasText: "new.hire@example.eu" }).waitFor();
    await page.getByRole("link", { name: "Keys" }).click();
    const form = page.getByRole("form", { name: "Create: Keys" });
    await form.getByLabel("Name").fill("ci pipeline");
    await form.getByLabel("Hard budget (€/month)").fill("25");
    await form.getByRole("button", { name: "Create" }).click();
    const secret = (await page.locator("[data-secret]").textContent()) ?? "";
    expect(secret).toMatch(/^bst_live_/);
    // The secret works as a key.
    const models = await fetch(`${server.baseUrl}/v1/models`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(models.status).toBe(200);
    const row = page.locator('tr[data-key="ci pipeline"]');
    await row.waitFor();
    expect(await row.textContent()).toContain("hard");
    // Limits and budgets can be changed later.
    await row.getByRole("button", { name: "Edit limits" }).click();
    await row.getByLabel("Requests/min").fill("30");
    await row.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("Limits saved.").waitFor();
    await expect.poll(() => row.textContent()).toContain("30 rpm");
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByText("revoked").waitFor();
    const refused = await fetch(`${server.baseUrl}/v1/models`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(refused.status).toBe(401);
    await shoot(page, "console-keys");

    await page.getByRole("link", { name: "Usage" }).click();
    await page.locator(".chart canvas").waitFor({ timeout: 30_000 });
    const requests = await page.locator(".stat", { hasText: "Requests" }).locator("b").textContent();
    expect(Number(requests?.replace(/\D/g, ""))).toBeGreaterThan(0);
    expect(await page.locator(".u-legend").textContent()).toMatch(/tiny|scripted/);
    // The same chart for the money saved against the reference model.
    await page.getByLabel("Metric").selectOption("saved_eur");
    await page.locator(".chart canvas").waitFor();
    await expectAccessible(page);
    await shoot(page, "console", { readme: true });
    expect(problems).toEqual([]);
    await context.close();
  });

  it("as admin, dry-runs a text through the policy and sees what was found highlighted", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, { apiKey: server.adminKey });
    await page.getByRole("link", { name: "Console" }).click();
    await page.getByRole("link", { name: "Policies" }).click();
    await page.getByText("(default)").waitFor();
    await page
      .getByLabel("Text to check")
      .fill(
        "Merci d'écrire à jeanne.dupont@example.fr avant vendredi, IBAN FR76 3000 6000 0112 3456 7890 189.",
      );
    await page.getByRole("button", { name: "Check" }).click();
    const result = page.locator("[data-dry-run-result]");
    await result.waitFor();
    expect(await result.locator('.highlighted mark[data-type="email"]').textContent()).toBe(
      "jeanne.dupont@example.fr",
    );
    expect(await result.locator('.highlighted mark[data-type="iban"]').count()).toBe(1);
    expect(await result.textContent()).toMatch(/pseudonymise|keep-local|block/);
    await shoot(page, "console-policies");
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("regenerates and edits-and-resends as branches you can flip through", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await chooseModel(page, "scripted");
    await page.getByLabel("Message").fill("Première question");
    await page.getByLabel("Message").press("Enter");
    const passports = page.locator('article[data-role="assistant"] .passport-line');
    await passports.first().waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Regenerate" }).click();
    const answerBranches = page.locator('article[data-role="assistant"] .branches');
    await answerBranches.waitFor({ timeout: 60_000 });
    await expect.poll(() => answerBranches.textContent()).toContain("2/2");
    await page.locator('article[data-role="assistant"] .passport-line').waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Previous branch" }).click();
    await expect.poll(() => answerBranches.textContent()).toContain("1/2");

    const question = page.locator('article[data-role="user"]');
    await question.getByRole("button", { name: "Edit" }).click();
    await question.getByRole("textbox").fill("Deuxième question");
    await question.getByRole("button", { name: "Save and send" }).click();
    await expect.poll(() => question.locator(".bubble").textContent()).toBe("Deuxième question");
    await expect.poll(() => question.locator(".branches").textContent()).toContain("2/2");
    await page.locator('article[data-role="assistant"] .passport-line').waitFor({ timeout: 60_000 });
    // Back on the first question, its own answers (two of them) are still there.
    await question.getByRole("button", { name: "Previous branch" }).click();
    await expect.poll(() => question.locator(".bubble").textContent()).toBe("Première question");
    await expect.poll(() => answerBranches.textContent()).toContain("/2");
    // The tree is stored: after a reload the same branch is shown.
    await page.reload();
    await expect
      .poll(() => page.locator('article[data-role="user"] .bubble').textContent())
      .toBe("Première question");
    await shoot(page, "branches");
    expect(problems).toEqual([]);
    await context.close();
  });

  it("renders answers as sanitised Markdown with highlighted code, a working copy button and KaTeX", async () => {
    const { context, page, problems } = await openPage();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
    await signIn(page, server.users.member);
    // The app's own renderer, fed a hostile answer as a model could write it.
    const markdownUrl = await page.evaluate(
      () =>
        new URL("markdown.js", (document.querySelector('script[type="module"]') as HTMLScriptElement).src)
          .href,
    );
    const answer = [
      "# Title",
      '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"> [link](javascript:alert(1))',
      "Inline maths $e^{i\\pi} + 1 = 0$ and a block:",
      "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$",
      "```python\ndef hello():\n    return 42\n```",
    ].join("\n\n");
    // A string, not a function: the test runner would rewrite a dynamic import() inside a function.
    await page.evaluate(`(async () => {
      const { renderMarkdown, typesetMaths } = await import(${JSON.stringify(markdownUrl)});
      const box = document.createElement("div");
      box.id = "rendered";
      box.className = "markdown";
      box.innerHTML = renderMarkdown(${JSON.stringify(answer)});
      document.querySelector(".messages").append(box);
      await typesetMaths(box);
    })()`);
    const rendered = page.locator("#rendered");
    expect(await rendered.locator("h1").textContent()).toBe("Title");
    expect(await rendered.locator("script").count()).toBe(0);
    expect(await rendered.locator("[onerror]").count()).toBe(0);
    expect(await rendered.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await rendered.locator(".hljs-keyword").first().textContent()).toBe("def");
    await rendered.locator(".katex").first().waitFor();
    expect(await rendered.locator(".katex-display").count()).toBe(1);
    await rendered.getByRole("button", { name: "Copy" }).click();
    await rendered.getByRole("button", { name: "Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("def hello():\n    return 42");
    await shoot(page, "markdown");
    // The hostile image fails to load and its handler is refused by the CSP: both are logged, as they should be.
    expect(problems.filter((line) => !/inline event handler|\/x\)$/.test(line))).toEqual([]);
    await context.close();
  });

  it("switches to the dark theme and stays readable", async () => {
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.member);
    await page.getByRole("button", { name: "Theme: Dark" }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await page.reload();
    await page.getByRole("button", { name: "Theme: Light" }).waitFor();
    await expectAccessible(page);
    await shoot(page, "dark");
    expect(problems).toEqual([]);
    await context.close();
  });

  it("as admin, pulls a model with live progress and unloads a loaded one", async () => {
    // Make sure "tiny" is loaded, whichever tests ran before.
    (await server.platform.pool.acquire("tiny")).release();
    const { context, page, problems } = await openPage();
    await signIn(page, { apiKey: server.adminKey });
    await page.getByRole("link", { name: "Console" }).click();
    await page.getByRole("link", { name: "Models" }).click();
    const tiny = page.locator("table.data tr", { hasText: "tiny" });
    await tiny.waitFor();
    await tiny.getByRole("button", { name: "Unload" }).click();
    await expect.poll(() => tiny.textContent()).toContain("not loaded");
    expect(server.platform.pool.isLoaded("tiny")).toBe(false);

    await page.getByLabel("Model reference (catalog id or Hugging Face repo)").fill("hf:acme/Tiny-GGUF:q8_0");
    await page.getByRole("button", { name: "Pull" }).click();
    await page.getByText("is in the store and served").waitFor({ timeout: 120_000 });
    await page.locator("table.data tr", { hasText: "tiny-q8_0" }).waitFor();
    await shoot(page, "console-models");
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("8: as auditor, runs verify chain", async () => {
    await chatOnce();
    const { context, page, problems } = await openPage();
    await signIn(page, server.users.auditor);
    await page.getByRole("link", { name: "Console" }).click();
    // An auditor sees usage and audit only.
    await page.locator("nav.tabs a").first().waitFor();
    expect(await page.locator("nav.tabs a").allTextContents()).toEqual(["Usage", "Audit"]);
    await page.getByRole("link", { name: "Audit" }).click();
    await page.getByRole("button", { name: "Verify chain" }).click();
    const verdict = page.locator("[data-verdict]");
    await verdict.waitFor();
    expect(await verdict.getAttribute("data-verdict")).toBe("ok");
    expect(await verdict.textContent()).toMatch(/Chain verified: [1-9]\d* records/);
    expect(await page.locator("table.data tbody tr").count()).toBeGreaterThan(0);
    // Filters: only the requests answered by one model.
    await page.getByLabel("Model").fill("scripted");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect
      .poll(async () => [
        ...new Set(await page.locator("table.data tbody tr td:nth-child(5)").allTextContents()),
      ])
      .toEqual(["scripted"]);
    await shoot(page, "console-audit");
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("9: on a 390×844 phone screen, in French, the chat works", async () => {
    const { context, page, problems } = await openPage({
      viewport: { width: 390, height: 844 },
      locale: "fr-FR",
    });
    await page.goto(server.baseUrl);
    await page.getByLabel("Adresse e-mail").fill(server.users.member.email);
    await page.getByLabel("Mot de passe").fill(server.users.member.password);
    await page.getByRole("button", { name: "Se connecter" }).click();
    await chooseModel(page, "scripted");
    await page.getByLabel("Message").fill("Salut");
    await page.getByRole("button", { name: "Envoyer" }).click();
    await page.locator('article[data-role="assistant"] .passport-line').waitFor({ timeout: 60_000 });
    expect(await page.locator("details.reasoning summary").textContent()).toMatch(/^A réfléchi \d+ s$/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // The conversation list is a drawer behind the menu button.
    await page.getByRole("button", { name: "Discussions", exact: true }).click();
    await page.locator(".sidebar.open").waitFor();
    await page.waitForTimeout(400); // the drawer slides in over 0.15 s
    await shoot(page, "phone-drawer");
    await page.getByRole("button", { name: "Fermer" }).click();
    await shoot(page, "phone-chat");
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await context.close();
  });
});
