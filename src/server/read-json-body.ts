import type { Context } from "hono";
import { BastionError } from "../core/errors.ts";

/** JSON nested deeper than this is refused: no legitimate request needs it, and deep input costs recursion. */
export const maxJsonDepth = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Reads the request body as JSON: strict UTF-8, valid JSON, bounded nesting. The size bound is
 * enforced earlier by the body-limit middleware. Every failure is a 400 `invalid_json`.
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length === 0)
    throw new BastionError("invalid_json", "The request body is empty; expected a JSON object.");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new BastionError("invalid_json", "The request body is not valid UTF-8.");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? ` (${error.message})` : "";
    throw new BastionError("invalid_json", `The request body is not valid JSON${detail}.`);
  }
  if (jsonDepth(value) > maxJsonDepth) {
    throw new BastionError("invalid_json", `The request body is nested deeper than ${maxJsonDepth} levels.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BastionError("invalid_request", "The request body must be a JSON object.");
  }
  return value;
}

/** Depth of a parsed JSON value, computed without recursion so that no input can overflow the stack. */
export function jsonDepth(root: unknown): number {
  let max = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    const inner = depth + 1;
    if (inner > max) max = inner;
    if (max > maxJsonDepth) return max;
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, depth: inner });
    }
  }
  return max;
}
