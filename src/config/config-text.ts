import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { BastionError } from "../core/errors.ts";

/**
 * Parses a config file's text: YAML for `.yaml`/`.yml`, JSON for `.json`, else by content (a
 * leading `{` is JSON). Both give the same object and go through the same schema.
 */
export function parseConfigText(text: string, file: string): unknown {
  const extension = extname(file).toLowerCase();
  const yaml =
    extension === ".yaml" || extension === ".yml" || (extension !== ".json" && !/^\s*\{/.test(text));
  if (!yaml) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new BastionError(
        "invalid_request",
        `Config file ${file} is not valid JSON: ${(error as Error).message}`,
      );
    }
  }
  try {
    return parseYaml(text, { prettyErrors: true }) ?? {};
  } catch (error) {
    throw new BastionError(
      "invalid_request",
      `Config file ${file} is not valid YAML: ${(error as Error).message}`,
    );
  }
}

/** Keys whose `${NAME}` stays a reference, resolved where the secret is used, never copied into the config. */
const secretKeys = new Set(["apiKey"]);

/**
 * Replaces `${NAME}` in every string of a parsed config with the environment variable's value;
 * `$${` writes a literal `${`. An unset variable is an error naming the key path.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  file: string,
  path: string[] = [],
): unknown {
  if (typeof value === "string") {
    if (!value.includes("${")) return value;
    return value.replace(/\$?\$\{([^}]*)\}/g, (match, name: string) => {
      if (match.startsWith("$$")) return match.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new BastionError(
          "invalid_request",
          `${file}: ${path.join(".")}: "\${${name}}" is not a variable name; write \${NAME} with letters, digits and _ (or $\${ for a literal).`,
        );
      }
      const resolved = env[name];
      if (resolved === undefined) {
        throw new BastionError(
          "invalid_request",
          `${file}: ${path.join(".")}: the environment variable ${name} is not set; export it or write the value.`,
        );
      }
      return resolved;
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolateEnv(item, env, file, [...path, String(index)]));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = secretKeys.has(key) ? inner : interpolateEnv(inner, env, file, [...path, key]);
    }
    return out;
  }
  return value;
}
