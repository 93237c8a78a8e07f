import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { syntheticTestModel } from "../../src/models/testing.ts";
import { freePort } from "../support/free-port.ts";

// `bastion serve` as a real process on a fresh data directory, killed with SIGKILL under load.
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
const plantedPrompt = "PLANTED-PROMPT-7f3a Marie Curie marie.curie@example.fr FR7630006000011234567890189";
const adminKey = `bst_live_crashtest_${"s3cr3t".repeat(6)}`;
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Served {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

function environment(dataDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BASTION_DATA_DIR: dataDir,
    BASTION_LOG_LEVEL: "debug",
    BASTION_LOG_FORMAT: "json",
    BASTION_ADMIN_KEY: adminKey,
    BASTION_API_KEY: adminKey,
  };
}

async function serve(dataDir: string, model: string): Promise<Served> {
  const port = await freePort();
  let output = "";
  const child = spawn(
    process.execPath,
    [
      bin,
      "serve",
      "--no-store",
      "--port",
      String(port),
      "--threads",
      "1",
      "--parallel",
      "4",
      "--model",
      `tiny=${model}`,
    ],
    { env: environment(dataDir), stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr?.on("data", (data: Buffer) => {
    output += data.toString();
  });
  const exited = new Promise((resolve) =>
    child.exitCode === null ? child.once("exit", resolve) : resolve(null),
  );
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 600 && child.exitCode === null; attempt++) {
    const ok = await fetch(`${url}/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return { url, child, output: () => output, exited };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`serve did not become ready:\n${output}`);
}

function cli(
  dataDir: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: environment(dataDir),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => {
      stdout += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** One chat request; resolves to its request id once the client has the complete answer, else undefined. */
async function completeRequest(url: string, stream: boolean): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: plantedPrompt }],
        max_tokens: 6,
        stream,
      }),
    });
    const id = response.headers.get("x-request-id") ?? undefined;
    const text = await response.text();
    if (response.status !== 200) return undefined;
    if (stream) return text.includes('"finish_reason":"') && text.includes("data: [DONE]") ? id : undefined;
    return (JSON.parse(text) as { choices?: Array<{ finish_reason?: string }> }).choices?.[0]
      ?.finish_reason === undefined
      ? undefined
      : id;
  } catch {
    return undefined; // the server died mid-request: no complete answer
  }
}

describe("a server killed with SIGKILL under load", () => {
  it("restarts with a chain that verifies, and every answered request has its audit and usage records", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bastion-crash-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const model = await syntheticTestModel("tiny");
    const first = await serve(dataDir, model);

    const answered: string[] = [];
    let stop = false;
    const clients = Array.from({ length: 6 }, async (_, index) => {
      while (!stop) {
        const id = await completeRequest(first.url, index % 2 === 0);
        if (id !== undefined) answered.push(id);
        else if (first.child.exitCode !== null || first.child.signalCode !== null) return;
      }
    });
    // Kill while requests are in flight: once enough have been answered, at an arbitrary moment.
    while (answered.length < 24) await new Promise((resolve) => setTimeout(resolve, 20));
    first.child.kill("SIGKILL");
    await first.exited;
    stop = true;
    await Promise.all(clients);
    expect(first.child.signalCode).toBe("SIGKILL");

    // The restarted server opens the same store, continues the chain and answers again.
    const second = await serve(dataDir, model);
    const after = await completeRequest(second.url, false);
    expect(after).toBeDefined();
    // The same reports from the running server, over its admin API with the key.
    const remoteVerify = await cli(dataDir, ["audit", "verify", "--url", second.url]);
    expect(remoteVerify.code).toBe(0);
    expect(remoteVerify.stdout).toMatch(/audit log OK/);
    const remoteUsage = await cli(dataDir, ["usage", "--url", second.url, "--group-by", "day"]);
    expect(remoteUsage.code).toBe(0);
    expect(remoteUsage.stdout).toMatch(/^day {9}requests/);
    second.child.kill("SIGTERM");
    await second.exited;

    const verify = await cli(dataDir, ["audit", "verify"]);
    expect(verify.stderr).toBe("");
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/audit log OK: \d+ records, \d+ signed checkpoints/);

    const exported = await cli(dataDir, ["audit", "export"]);
    expect(exported.code).toBe(0);
    const lines = exported.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { record?: { request_id?: string }; checkpoint?: unknown });
    const audited = new Set(lines.map((line) => line.record?.request_id).filter((id) => id !== undefined));
    const missing = [...answered, after!].filter((id) => !audited.has(id));
    expect(missing).toEqual([]);
    // The shutdown after the restart signed a checkpoint over the whole chain.
    expect(lines.some((line) => line.checkpoint !== undefined)).toBe(true);

    const usage = await cli(dataDir, ["usage", "--json", "--group-by", "model"]);
    const rows = (JSON.parse(usage.stdout) as { data: Array<{ model: string; requests: number }> }).data;
    expect(rows.find((row) => row.model === "tiny")?.requests).toBeGreaterThanOrEqual(answered.length + 1);

    // An edit made behind Bastion's back: verify now fails, naming the record.
    const { default: SQLite } = await import("better-sqlite3");
    const database = new SQLite(join(dataDir, "bastion.db"));
    database
      .prepare(
        'update audit_log set body = replace(body, \'"status":"ok"\', \'"status":"error"\') where seq = 5',
      )
      .run();
    database.close();
    const tampered = await cli(dataDir, ["audit", "verify"]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/FAILED at record 5: record 5 was altered/);

    // Neither server's logs nor the audit export hold the prompt, a value in it, or the key.
    for (const text of [first.output(), second.output(), exported.stdout]) {
      for (const planted of [
        "PLANTED-PROMPT-7f3a",
        "marie.curie@example.fr",
        "FR7630006000011234567890189",
        adminKey,
        "s3cr3t",
      ])
        expect(text).not.toContain(planted);
    }
    expect(first.output()).toMatch(/"msg":"request"/);
  });
});
