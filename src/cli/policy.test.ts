import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
let directory: string;

function bastion(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, BASTION_CONFIG: "" } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
    );
    child.stdin?.end(input ?? "");
  });
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "bastion-policy-cli-"));
  await writeFile(
    join(directory, "prompt.txt"),
    "Mail claire@example.fr, IBAN DE89 3704 0044 0532 0130 00, order 4111 1111 1111 1112, project Orion.",
  );
  await writeFile(
    join(directory, "config.json"),
    JSON.stringify({
      policies: {
        default: "acme",
        definitions: {
          acme: {
            classes: { internal: { action: "block" } },
            custom: [{ name: "codename", keywords: ["orion"] }],
          },
        },
      },
    }),
  );
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("bastion policy check", () => {
  it("--json prints detections with positions and masked values, and the decision", async () => {
    const { code, stdout } = await bastion(["policy", "check", "--json", join(directory, "prompt.txt")]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(
      result.detections.map((d: { type: string; start: number; end: number }) => [d.type, d.start, d.end]),
    ).toEqual([
      ["email", 5, 22],
      ["iban", 29, 56],
    ]);
    expect(result.decision).toMatchObject({
      policy: "eu-strict",
      dataClass: "personal",
      action: "pseudonymise",
    });
    expect(stdout).not.toContain("claire@");
    expect(stdout).not.toContain("0532");
  });

  it("reads policies from the config file and stdin with -", async () => {
    const text = await bastion(
      ["policy", "check", "-c", join(directory, "config.json"), "-"],
      "Status of project Orion?",
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/custom\/codename\s+\*{5}\n/);
    expect(text.stdout).toMatch(/policy acme: class internal, action block \(internal_detected\)/);
  });

  it("reads a YAML config as well", async () => {
    await writeFile(
      join(directory, "config.yaml"),
      "policies:\n  default: strict\n  definitions:\n    strict:\n      classes:\n        personal: { action: block }\n",
    );
    const { code, stdout } = await bastion(
      ["policy", "check", "--json", "-c", join(directory, "config.yaml"), "-"],
      "mail claire@example.fr",
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout).decision).toMatchObject({
      policy: "strict",
      action: "block",
      reason: "personal_detected",
    });
  });

  it("names the policies it knows when given an unknown one", async () => {
    const { code, stderr } = await bastion([
      "policy",
      "check",
      "--policy",
      "nope",
      join(directory, "prompt.txt"),
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/No policy named "nope"; known policies: eu-strict, local-only, eu-open/);
  });
});
