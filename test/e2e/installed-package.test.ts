import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { syntheticTestModel } from "../../src/models/testing.ts";

// The package works when installed, not only from a checkout: `npm pack` compiles dist/ (prepack),
// the tarball is unpacked where `npm install -g --prefix` puts it, and `bastion serve` runs from
// there, where Node strips no types. The dependencies come from this checkout's node_modules:
// this machine has no registry to install them from. Slow (a full tsc build): BASTION_TEST_PACK=1.
const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const enabled = process.env.BASTION_TEST_PACK === "1";
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(!enabled)("the installed package", () => {
  it("packs compiled JavaScript, and `bastion serve` runs from the install prefix", async () => {
    const work = await mkdtemp(join(tmpdir(), "bastion-pack-"));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], {
      cwd: root,
      maxBuffer: 1 << 26,
    });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed!.files.map((file) => file.path);
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("bin/bastion.js");
    expect(files.some((path) => path.startsWith("src/") || path.endsWith(".ts"))).toBe(false);
    // postpack removed the build again, so a checkout keeps running its sources.
    expect(existsSync(join(root, "dist"))).toBe(false);

    const prefix = join(work, "prefix");
    const installed = join(prefix, "lib", "node_modules", "bastion");
    await mkdir(installed, { recursive: true });
    await mkdir(join(prefix, "bin"));
    await run("tar", ["-xzf", join(work, packed!.filename), "-C", installed, "--strip-components=1"]);
    await symlink(join(root, "node_modules"), join(installed, "node_modules"));
    await symlink(join(installed, "bin", "bastion.js"), join(prefix, "bin", "bastion"));

    const dataDir = join(work, "data");
    const model = await syntheticTestModel("tiny");
    const child: ChildProcess = spawn(
      join(prefix, "bin", "bastion"),
      ["serve", "--no-store", "--port", "0", "--model", `tiny=${model}`],
      {
        env: { ...process.env, BASTION_DATA_DIR: dataDir, BASTION_LOG_FORMAT: "json" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    cleanups.push(async () => {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(null)));
    });
    let output = "";
    child.stdout?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.stderr?.on("data", (data: Buffer) => {
      output += data.toString();
    });
    let url: string | undefined;
    for (let attempt = 0; attempt < 600 && url === undefined && child.exitCode === null; attempt++) {
      url = /"url":"(http:\/\/[^"]+)\/v1"/.exec(output)?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (url === undefined) throw new Error(`bastion serve did not start:\n${output}`);
    for (let attempt = 0; attempt < 600; attempt++) {
      if ((await fetch(`${url}/ready`)).ok) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const headers: Record<string, string> = { "content-type": "application/json" };
    const keyFile = join(dataDir, "admin-key");
    if (existsSync(keyFile)) headers.authorization = `Bearer ${(await readFile(keyFile, "utf8")).trim()}`;
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
    });
    expect(response.status).toBe(200);
    expect(
      ((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens,
    ).toBe(3);
  }, 300_000);
});
