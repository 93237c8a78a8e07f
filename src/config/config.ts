import { readFileSync } from "node:fs";
import { freemem, totalmem } from "node:os";
import { basename, extname, resolve } from "node:path";
import { z } from "zod";
import { BastionError } from "../core/errors.ts";
import { authConfigShape } from "./auth-config.ts";
import { interpolateEnv, parseConfigText } from "./config-text.ts";
import { documentsConfigShape } from "./documents-config.ts";
import { gatewayConfigShape } from "./gateway-config.ts";
import { meteringConfigShape } from "./metering-config.ts";
import { policiesConfigShape } from "./policies-config.ts";
import { webConfigShape } from "./web-config.ts";

const byteSize = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i, 'a size such as "6GiB" or "512MB"')
    .transform(parseByteSize),
]);

const modelEntry = z
  .object({
    id: z
      .string()
      .min(1)
      .regex(/^[\w.:/-]+$/, "letters, digits and . _ - : / only"),
    /** A GGUF file path, or a model id in the store. */
    path: z.string().min(1),
    aliases: z.array(z.string().min(1)).default([]),
    parallel: z.number().int().min(1).max(64).optional(),
    contextSize: z.number().int().min(256).optional(),
    threads: z.number().int().min(1).max(256).optional(),
    batchSize: z.number().int().min(1).optional(),
    maxQueue: z.number().int().min(0).optional(),
    temperature: z.number().min(0).max(2).optional(),
    /**
     * Speculative decoding: "prompt-lookup" (the default) drafts tokens from the context and backs
     * off when they are refuted; "off" decodes one token per step.
     */
    speculative: z.enum(["prompt-lookup", "off"]).optional(),
    /** A small model with the same vocabulary (GGUF path or store id) that drafts tokens instead. */
    draftModel: z.string().min(1).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
        maxBodyBytes: byteSize.default(4 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    engine: z
      .object({
        /** llama.cpp threads per model; "auto" picks by measurement (see README). */
        threads: z.union([z.literal("auto"), z.number().int().min(1).max(256)]).default("auto"),
        gpu: z.union([z.literal("auto"), z.literal(false)]).default("auto"),
      })
      .strict()
      .prefault({}),
    hub: z
      .object({
        /** A Hugging Face mirror; `HF_ENDPOINT` and `--endpoint` take precedence. */
        endpoint: z.url({ protocol: /^https?$/ }).optional(),
      })
      .strict()
      .prefault({}),
    models: z
      .object({
        memoryBudget: z.union([z.literal("auto"), byteSize]).default("auto"),
        idleUnloadSeconds: z.number().min(0).default(900),
        parallel: z.number().int().min(1).max(64).default(4),
        contextSize: z.number().int().min(256).default(4096),
        maxQueue: z.number().int().min(0).default(64),
        entries: z.array(modelEntry).default([]),
      })
      .strict()
      .prefault({}),
    ...gatewayConfigShape,
    ...policiesConfigShape,
    ...authConfigShape,
    ...meteringConfigShape,
    ...documentsConfigShape,
    ...webConfigShape,
  })
  .strict();

export type BastionConfig = z.infer<typeof configSchema>;
export type ModelEntryConfig = z.infer<typeof modelEntry>;

export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?$/i.exec(text.trim());
  if (match === null) throw new Error(`not a size: ${text}`);
  const unit = (match[2] ?? "B").toUpperCase();
  const powers: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    KIB: 1024,
    MIB: 1024 ** 2,
    GIB: 1024 ** 3,
    TIB: 1024 ** 4,
  };
  return Math.round(Number(match[1]) * (powers[unit] ?? 1));
}

/** The default memory budget: what is free now, less 1 GiB for the OS and Bastion itself, at most 80% of RAM. */
export function defaultMemoryBudget(): number {
  return Math.max(512 * 1024 ** 2, Math.min(freemem() - 1024 ** 3, totalmem() * 0.8));
}

/**
 * The hub endpoint to pull from: an explicit option, else `HF_ENDPOINT`, else the config's `hub.endpoint`
 * (undefined lets the hub client use https://huggingface.co).
 */
export function hubEndpoint(
  config: Readonly<BastionConfig>,
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (explicit !== undefined && explicit !== "") return explicit;
  if (env.HF_ENDPOINT !== undefined && env.HF_ENDPOINT !== "") return env.HF_ENDPOINT;
  return config.hub.endpoint;
}

/**
 * Parses `--model` arguments: `path/to/file.gguf` (id = file base name) or `id=path`.
 */
export function parseModelArgument(argument: string): { id: string; path: string } {
  const equals = argument.indexOf("=");
  if (equals > 0) return { id: argument.slice(0, equals), path: argument.slice(equals + 1) };
  const id = basename(argument, extname(argument)).replace(/-0*1-of-\d+$/, "");
  return { id, path: argument };
}

function formatZodError(error: z.ZodError, source: string): string {
  return error.issues
    .map((issue) => `${source}: ${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("\n");
}

export interface LoadConfigOptions {
  /** Path of a JSON or YAML config file; `BASTION_CONFIG` if omitted; none if neither. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from the command line, applied last. */
  overrides?: (config: BastionConfig) => void;
}

/**
 * Loads the configuration once: file, then environment (`BASTION_HOST`, `BASTION_PORT`,
 * `BASTION_THREADS`, `BASTION_MEMORY_BUDGET`), then command-line overrides. The result is frozen.
 */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<BastionConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? (env.BASTION_CONFIG === "" ? undefined : env.BASTION_CONFIG);
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(file), "utf8");
    } catch (error) {
      throw new BastionError(
        "invalid_request",
        `Cannot read config file ${file}: ${(error as Error).message}`,
      );
    }
    // JSON or YAML (same schema); `${ENV}` is replaced everywhere except in secret references.
    raw = interpolateEnv(parseConfigText(text, file), env, file);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    throw new BastionError("invalid_request", formatZodError(parsed.error, file ?? "config"));
  const config = parsed.data;
  const fromEnv = (name: string, apply: (value: string) => void) => {
    const value = env[name];
    if (value === undefined || value === "") return;
    try {
      apply(value);
    } catch (error) {
      throw new BastionError("invalid_request", `${name}=${value}: ${(error as Error).message}`);
    }
  };
  const integer = (value: string) => {
    if (!/^\d+$/.test(value)) throw new Error("expected a whole number");
    return Number(value);
  };
  fromEnv("BASTION_HOST", (value) => {
    config.server.host = value;
  });
  fromEnv("BASTION_PORT", (value) => {
    config.server.port = integer(value);
  });
  fromEnv("BASTION_THREADS", (value) => {
    config.engine.threads = value === "auto" ? "auto" : integer(value);
  });
  fromEnv("BASTION_MEMORY_BUDGET", (value) => {
    config.models.memoryBudget = value === "auto" ? "auto" : parseByteSize(value);
  });
  options.overrides?.(config);
  const checked = configSchema.safeParse(config);
  if (!checked.success) throw new BastionError("invalid_request", formatZodError(checked.error, "settings"));
  return deepFreeze(checked.data);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
