import { describe, expect, it } from "vitest";
import { filterSchema, matchesFilter } from "./filters.ts";

const attributes = { team: "hr", year: 2024, public: true };

describe("attribute filters", () => {
  it("evaluates every comparison and compound", () => {
    const cases: Array<[unknown, boolean]> = [
      [{ type: "eq", key: "team", value: "hr" }, true],
      [{ type: "ne", key: "team", value: "hr" }, false],
      [{ type: "gt", key: "year", value: 2023 }, true],
      [{ type: "gte", key: "year", value: 2025 }, false],
      [{ type: "lt", key: "year", value: 2025 }, true],
      [{ type: "lte", key: "year", value: 2023 }, false],
      [{ type: "in", key: "team", value: ["it", "hr"] }, true],
      [{ type: "nin", key: "team", value: ["it", "hr"] }, false],
      [{ type: "eq", key: "public", value: true }, true],
      [{ type: "eq", key: "missing", value: "x" }, false],
      [{ type: "ne", key: "missing", value: "x" }, true],
      [{ type: "gt", key: "team", value: 3 }, false],
      [
        {
          type: "and",
          filters: [
            { type: "eq", key: "team", value: "hr" },
            {
              type: "or",
              filters: [
                { type: "lt", key: "year", value: 2000 },
                { type: "eq", key: "public", value: true },
              ],
            },
          ],
        },
        true,
      ],
    ];
    for (const [filter, expected] of cases) {
      expect(matchesFilter(attributes, filterSchema.parse(filter)), JSON.stringify(filter)).toBe(expected);
    }
  });

  it("refuses malformed filters", () => {
    expect(filterSchema.safeParse({ type: "eq", key: "team" }).success).toBe(false);
    expect(filterSchema.safeParse({ type: "like", key: "team", value: "h%" }).success).toBe(false);
    expect(filterSchema.safeParse({ type: "and", filters: [] }).success).toBe(false);
  });
});
