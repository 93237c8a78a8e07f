import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.ts";
import { resolveBackendConfigs } from "../../src/gateway/backend-configs.ts";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/server.ts";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "bastion.js");
let dir: string;
let upstream: FakeUpstream;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bastion-gateway-config-"));
  upstream = await startFakeUpstream();
});

afterAll(async () => {
  await upstream?.close();
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const yamlConfig = `
# Same schema as JSON.
backends:
  mistral:
    preset: mistral
  gpu-node:
    baseUrl: \${GPU_URL}
    apiKeyEnv: GPU_KEY
    jurisdiction: { country: DE, zone: EU, operator: ACME GmbH }
    pricing: { inputPerMillion: 0.05, outputPerMillion: 0.1 }
    models: { qwen: Qwen/Qwen2.5-7B-Instruct }
routes:
  assistant:
    strategy: cheapest
    candidates: [gpu-node/qwen, mistral/mistral-small-latest]
`;

describe("gateway configuration", () => {
  it("reads YAML with environment interpolation, presets and keys from the environment", async () => {
    const path = await file("bastion.yaml", yamlConfig);
    const env = { GPU_URL: "http://10.0.0.5:8000/v1", GPU_KEY: "k-123", MISTRAL_API_KEY: "m-456" };
    const config = loadConfig({ file: path, env });
    expect(config.backends["gpu-node"]?.baseUrl).toBe("http://10.0.0.5:8000/v1");
    expect(config.routes.assistant?.strategy).toBe("cheapest");
    const { remote } = resolveBackendConfigs(config.backends, { env, requireKeys: true });
    const mistral = remote.find((backend) => backend.id === "mistral")!;
    expect(mistral).toMatchObject({
      baseUrl: "https://api.mistral.ai/v1",
      apiKeyEnv: "MISTRAL_API_KEY",
      apiKey: "m-456",
      jurisdiction: { country: "FR", zone: "EU", operator: "Mistral AI", extraterritorial: false },
    });
    expect(remote.find((backend) => backend.id === "gpu-node")).toMatchObject({
      apiKey: "k-123",
      models: { qwen: "Qwen/Qwen2.5-7B-Instruct" },
    });
    // The frozen config holds the reference, never the key.
    expect(JSON.stringify(config)).not.toContain("m-456");
  });

  it("names the key path of an unset variable", async () => {
    const path = await file("missing-env.yaml", yamlConfig);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(
      /backends\.gpu-node\.baseUrl: the environment variable GPU_URL is not set/,
    );
  });

  it("refuses a literal API key and says how to fix it", async () => {
    const path = await file(
      "literal.json",
      JSON.stringify({
        backends: {
          x: {
            baseUrl: "http://127.0.0.1:1/v1",
            apiKey: "sk-live-abc",
            jurisdiction: { country: "FR", zone: "EU", operator: "X" },
          },
        },
      }),
    );
    expect(() => loadConfig({ file: path, env: {} })).toThrow(
      /backends\.x\.apiKey: a literal API key is refused.*apiKeyEnv/,
    );
  });

  it("refuses a preset's backend without its key when serving, and an unknown preset", async () => {
    const path = await file("no-key.yaml", "backends:\n  mistral:\n    preset: mistral\n");
    const config = loadConfig({ file: path, env: {} });
    expect(() => resolveBackendConfigs(config.backends, { env: {}, requireKeys: true })).toThrow(
      /MISTRAL_API_KEY is not set/,
    );
    const unknown = loadConfig({
      file: await file("unknown.yaml", "backends:\n  x:\n    preset: nowhere\n"),
      env: {},
    });
    expect(() => resolveBackendConfigs(unknown.backends)).toThrow(
      /backends\.x\.preset: unknown preset "nowhere"; use one of mistral, scaleway/,
    );
  });

  it("refuses credentials inside a baseUrl, naming the key path", async () => {
    const path = await file(
      "userinfo.yaml",
      "backends:\n  eu:\n    baseUrl: http://user:secretpw@127.0.0.1:9/v1\n    jurisdiction: { country: FR, zone: EU, operator: X }\n",
    );
    expect(() => loadConfig({ file: path, env: {} })).toThrow(
      /backends\.eu\.baseUrl: a baseUrl must not carry credentials/,
    );
    const failed = await run(process.execPath, [bin, "backends", "--json", "--no-probe", "--config", path], {
      env: { ...process.env, BASTION_DATA_DIR: dir },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect("code" in failed ? failed.code : 0).toBe(1);
    expect(failed.stdout).not.toContain("secretpw");
  });

  it("bastion backends refuses a route to an unknown backend, as serve does", async () => {
    const path = await file(
      "bad-route.yaml",
      `backends:\n  eu:\n    baseUrl: ${"http://127.0.0.1:9/v1"}\n    jurisdiction: { country: FR, zone: EU, operator: X }\nroutes:\n  r: { candidates: [nope/x] }\n`,
    );
    const failed = await run(process.execPath, [bin, "backends", "--no-probe", "--config", path], {
      env: { ...process.env, BASTION_DATA_DIR: dir },
    }).catch((error: { code: number; stderr: string }) => error);
    expect("code" in failed ? failed.code : 0).toBe(1);
    expect(failed.stderr).toMatch(/routes\.r\.candidates\[0\]: "nope\/x": no backend "nope" is configured/);
  });

  it("bastion backends --json lists jurisdiction, price and probed health", async () => {
    const path = await file(
      "cli.yaml",
      `backends:\n  eu:\n    baseUrl: ${upstream.baseUrl}\n    jurisdiction: { country: FR, zone: EU, operator: Fake EU }\n  openai:\n    preset: openai\nroutes:\n  chat: { candidates: [eu/echo] }\n`,
    );
    const { stdout } = await run(process.execPath, [bin, "backends", "--json", "--config", path], {
      env: { ...process.env, BASTION_DATA_DIR: dir, OPENAI_API_KEY: "" },
    });
    const rows = JSON.parse(stdout) as Array<{
      id: string;
      health: string;
      jurisdiction: { zone: string };
      models: string[];
    }>;
    expect(rows.map((row) => row.id)).toEqual(["local", "eu", "openai"]);
    expect(rows[1]).toMatchObject({ health: "healthy", jurisdiction: { zone: "EU" }, models: ["echo"] });
    expect(rows[2]!.health).toMatch(/OPENAI_API_KEY is not set/);
  });
});
