import { z } from "zod";

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

export type ComparisonFilter = {
  type: "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "in" | "nin";
  key: string;
  value: AttributeValue | AttributeValue[];
};
export type CompoundFilter = { type: "and" | "or"; filters: Filter[] };
export type Filter = ComparisonFilter | CompoundFilter;

const comparisonFilter = z
  .object({
    type: z.enum(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]),
    key: z.string().min(1),
    value: z.union([scalar, z.array(scalar)]),
  })
  .strict();

/** OpenAI's attribute filters: comparisons, combined with `and` / `or` to any depth (bounded by JSON depth). */
export const filterSchema: z.ZodType<Filter> = z.lazy(() =>
  z.union([
    comparisonFilter,
    z.object({ type: z.enum(["and", "or"]), filters: z.array(filterSchema).min(1) }).strict(),
  ]),
) as z.ZodType<Filter>;

/** File attributes as OpenAI allows them: at most 16 keys, keys up to 64 chars, strings up to 512. */
export const attributesSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(512), z.number(), z.boolean()]))
  .refine((value) => Object.keys(value).length <= 16, "at most 16 attributes");

function compare(
  actual: AttributeValue | undefined,
  type: ComparisonFilter["type"],
  expected: ComparisonFilter["value"],
): boolean {
  if (type === "in" || type === "nin") {
    const list = Array.isArray(expected) ? expected : [expected];
    const found = actual !== undefined && list.some((item) => item === actual);
    return type === "in" ? found : !found;
  }
  if (Array.isArray(expected)) return false;
  if (type === "eq") return actual === expected;
  if (type === "ne") return actual !== expected;
  if (actual === undefined || typeof actual !== typeof expected || typeof actual === "boolean") return false;
  const a = actual as number | string;
  const b = expected as number | string;
  switch (type) {
    case "gt":
      return a > b;
    case "gte":
      return a >= b;
    case "lt":
      return a < b;
    default:
      return a <= b;
  }
}

/** Whether a file's attributes pass a filter. A missing key never matches a comparison except `ne` / `nin`. */
export function matchesFilter(attributes: Attributes, filter: Filter): boolean {
  if ("filters" in filter) {
    return filter.type === "and"
      ? filter.filters.every((inner) => matchesFilter(attributes, inner))
      : filter.filters.some((inner) => matchesFilter(attributes, inner));
  }
  return compare(attributes[filter.key], filter.type, filter.value);
}
