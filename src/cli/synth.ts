import { type Command, InvalidArgumentError } from "commander";
import { formatBinaryBytes } from "../core/format-bytes.ts";
import { syntheticPresetNames } from "../models/presets.ts";
import {
  resolvePreset,
  type SyntheticWeightType,
  synthesizeModel,
  syntheticWeightTypes,
} from "../models/synth.ts";
import { integerOption } from "./options.ts";

interface SynthOptions {
  preset: string;
  type?: SyntheticWeightType;
  seed?: number;
  out: string;
  cacheDir?: string;
}

function weightTypeOption(value: string): SyntheticWeightType {
  const type = value.toLowerCase();
  if (!(syntheticWeightTypes as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(`--type takes one of ${syntheticWeightTypes.join(", ")}, not "${value}".`);
  }
  return type as SyntheticWeightType;
}

/** `bastion synth`: writes a synthetic GGUF model (real vocabulary and template, seeded weights). */
export function registerSynthCommand(program: Command): void {
  program
    .command("synth")
    .description(
      "Write a synthetic GGUF model: a real model's shape, vocabulary and chat template, seeded weights.",
    )
    .requiredOption("--preset <name>", `model preset: ${syntheticPresetNames.join(", ")}`)
    .option(
      "--type <type>",
      `weight type: ${syntheticWeightTypes.join(", ")} (default: the preset's)`,
      weightTypeOption,
    )
    .option("--seed <n>", "PRNG seed (default 1)", integerOption("--seed", 0, 2 ** 32 - 1))
    .requiredOption("-o, --out <file>", "the GGUF file to write")
    .option(
      "--cache-dir <dir>",
      "where llama.cpp's vocabularies are extracted (default: the data dir's cache)",
    )
    .action(async (options: SynthOptions) => {
      const preset = resolvePreset(options.preset); // fails fast, listing the valid presets
      const started = performance.now();
      const result = await synthesizeModel({
        preset: preset.name,
        out: options.out,
        ...(options.type === undefined ? {} : { type: options.type }),
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `${result.path}: ${result.preset} ${result.type}, ${formatBinaryBytes(result.bytes)} in ${seconds} s, sha256 ${result.sha256}\n`,
      );
    });
}
