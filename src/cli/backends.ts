import type { Command } from "commander";
import { createOpenAICompatibleBackend } from "../backends/openai-compatible.ts";
import { loadConfig } from "../config/config.ts";
import { BastionError } from "../core/errors.ts";
import { resolveBackendConfigs } from "../gateway/backend-configs.ts";
import { formatTable } from "./table.ts";

interface BackendsOptions {
  config?: string;
  json?: boolean;
  probe?: boolean;
}

interface BackendRow {
  id: string;
  kind: "local" | "remote";
  title: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  jurisdiction: { country: string; zone: string; operator: string; extraterritorial: boolean };
  pricing: { inputPerMillion: number; outputPerMillion: number };
  models: string[];
  health: string;
}

/**
 * `bastion backends`: every backend of the config with its jurisdiction, price and health. Remote
 * backends are probed once (their health path, e.g. `GET /models`); `--no-probe` skips that.
 */
export function registerBackendsCommand(program: Command): void {
  program
    .command("backends")
    .description(
      "List backends (local engine and remote OpenAI-compatible) with jurisdiction, health and price.",
    )
    .option("-c, --config <file>", "JSON or YAML config file (or BASTION_CONFIG)")
    .option("--json", "print JSON")
    .option("--no-probe", "do not contact remote backends")
    .action(async (options: BackendsOptions) => {
      const config = loadConfig(options.config === undefined ? {} : { file: options.config });
      const { local, remote, problems } = resolveBackendConfigs(config.backends, { requireKeys: false });
      const routed = new Map<string, Set<string>>();
      const known = new Set(["local", ...remote.map((settings) => settings.id)]);
      for (const [name, route] of Object.entries(config.routes)) {
        for (const [index, raw] of route.candidates.entries()) {
          const target = typeof raw === "string" ? raw : raw.target;
          const slash = target.indexOf("/");
          // The same check as \`serve\` makes (the router), so that this command does not pass a
          // config the server refuses. Local model names are checked by \`serve\` only: models in
          // the store are found at start.
          if (!known.has(target.slice(0, slash)))
            throw new BastionError(
              "invalid_request",
              `config: routes.${name}.candidates[${index}]: "${target}": no backend "${target.slice(0, slash)}" is configured (backends: ${[...known].join(", ")}).`,
            );
          const set = routed.get(target.slice(0, slash)) ?? new Set<string>();
          set.add(target.slice(slash + 1));
          routed.set(target.slice(0, slash), set);
        }
      }
      const rows: BackendRow[] = [
        {
          id: "local",
          kind: "local",
          title: "This server's engine (llama.cpp)",
          jurisdiction: { extraterritorial: false, ...local.jurisdiction },
          pricing: local.pricing,
          models: config.models.entries.map((entry) => entry.id),
          health: "in-process",
        },
      ];
      await Promise.all(
        remote.map(async (settings) => {
          let health = problems.get(settings.id) ?? "not probed";
          if (options.probe !== false && !problems.has(settings.id)) {
            const backend = createOpenAICompatibleBackend({
              ...settings,
              ...(settings.apiKey === undefined ? {} : { apiKey: settings.apiKey }),
            });
            try {
              await backend.probe();
              health = "healthy";
            } catch (error) {
              health = `unhealthy: ${(error as Error).message}`;
            } finally {
              await backend.dispose();
            }
          }
          rows.push({
            id: settings.id,
            kind: "remote",
            title: settings.title,
            baseUrl: settings.baseUrl,
            ...(settings.apiKeyEnv === undefined ? {} : { apiKeyEnv: settings.apiKeyEnv }),
            jurisdiction: {
              ...settings.jurisdiction,
              extraterritorial: settings.jurisdiction.extraterritorial ?? false,
            },
            pricing: settings.pricing,
            models: [...(routed.get(settings.id) ?? [])],
            health,
          });
        }),
      );
      rows.sort((a, b) => (a.kind === b.kind ? a.id.localeCompare(b.id) : a.kind === "local" ? -1 : 1));
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const table = rows.map((row) => [
        row.id,
        row.kind,
        `${row.jurisdiction.country} ${row.jurisdiction.zone}${row.jurisdiction.extraterritorial ? " (extraterritorial)" : ""}`,
        row.jurisdiction.operator,
        `${row.pricing.inputPerMillion}/${row.pricing.outputPerMillion}`,
        row.health,
      ]);
      const header = ["BACKEND", "KIND", "JURISDICTION", "OPERATOR", "EUR/1M IN/OUT", "HEALTH"];
      process.stdout.write(`${formatTable([header, ...table])}\n`);
    });
}
