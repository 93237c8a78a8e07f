import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { loadConfig } from "../config/config.ts";
import { BastionError } from "../core/errors.ts";
import { checkText, createPolicyEngine } from "../policy/index.ts";

interface CheckOptions {
  json?: boolean;
  policy?: string;
  dataClass?: string;
  config?: string;
}

async function readInput(source: string | undefined): Promise<string> {
  if (source === undefined || source === "-") {
    if (source === undefined && process.stdin.isTTY)
      throw new BastionError("invalid_request", "Give a file to check, or pipe text in (use - for stdin).");
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(source, "utf8");
  } catch (error) {
    throw new BastionError("invalid_request", `Cannot read ${source}: ${(error as Error).message}`);
  }
}

const engineFrom = (config: string | undefined) =>
  createPolicyEngine(loadConfig(config === undefined ? {} : { file: config }).policies);

/** `bastion policy check|list`: try the detectors and residency rules on a text, as a DPO would. */
export function registerPolicyCommand(program: Command): void {
  const policy = program.command("policy").description("Personal-data detection and residency policies.");
  policy
    .command("check")
    .description(
      "Run a text through the detectors and a policy: each detection (type, position, masked value) and the decision. Values are never printed in clear.",
    )
    .argument("[file]", "text file to check; - or nothing for stdin")
    .option("--json", "print {detections: [{type, subtype, start, end, masked, score}], decision}")
    .option("--policy <name>", "policy to apply (default: the config's policies.default)")
    .option("--data-class <class>", "declared data class, as the x-bastion-data-class header would")
    .option("-c, --config <file>", "JSON or YAML config file (or BASTION_CONFIG)")
    .action(async (file: string | undefined, options: CheckOptions) => {
      const engine = engineFrom(options.config);
      const text = await readInput(file);
      const inspectOptions: { policy?: string; declaredDataClass?: string } = {};
      if (options.policy !== undefined) inspectOptions.policy = options.policy;
      if (options.dataClass !== undefined) inspectOptions.declaredDataClass = options.dataClass;
      const result = checkText(engine, text, inspectOptions);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const lines = result.detections.map((detection) => {
        const position = `${detection.start}-${detection.end}`.padEnd(12);
        const type =
          `${detection.type}${detection.subtype === undefined ? "" : `/${detection.subtype}`}`.padEnd(30);
        return `${position}${type}${detection.masked}`;
      });
      if (lines.length === 0) lines.push("no detections");
      const { decision } = result;
      lines.push(
        "",
        `policy ${decision.policy}: class ${decision.dataClass}, action ${decision.action}${decision.reason === undefined ? "" : ` (${decision.reason})`}`,
        decision.summary,
      );
      process.stdout.write(`${lines.join("\n")}\n`);
    });
  policy
    .command("list")
    .description("List the policies (built-in and configured) and their rules per data class.")
    .option("--json", "print JSON")
    .option("-c, --config <file>", "JSON or YAML config file (or BASTION_CONFIG)")
    .action((options: { json?: boolean; config?: string }) => {
      const engine = engineFrom(options.config);
      const policies = engine.describe();
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({ default: engine.defaultPolicy, data: policies }, null, 2)}\n`,
        );
        return;
      }
      const lines: string[] = [];
      for (const described of policies) {
        lines.push(
          `${described.name}${described.name === engine.defaultPolicy ? " (default)" : ""}${described.builtIn ? " [built-in]" : ""}`,
        );
        for (const [dataClass, rule] of Object.entries(described.classes)) {
          const where =
            rule.backends !== undefined
              ? `backends ${rule.backends.join(", ")}`
              : rule.zones === "any"
                ? "any zone"
                : rule.zones.join(", ");
          lines.push(
            `  ${dataClass.padEnd(9)} ${rule.action.padEnd(13)} ${where}${rule.extraterritorial ? "" : ", no extraterritorial operator"}`,
          );
        }
        if (described.custom.length > 0)
          lines.push(
            `  custom: ${described.custom.map((rule) => `${rule.name} (${rule.kind}, ${rule.class})`).join(", ")}`,
          );
      }
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
