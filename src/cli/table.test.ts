import { describe, expect, it } from "vitest";
import { formatTable } from "./table.ts";

describe("formatTable", () => {
  it("aligns columns two spaces apart, numbers to the right, with no trailing blanks", () => {
    const text = formatTable(
      [
        ["ID", "SIZE", "NOTE"],
        ["tiny", "16", ""],
        ["deepseek", "1006", "default"],
      ],
      { alignRight: [1] },
    );
    expect(text.split("\n")).toEqual(["ID        SIZE  NOTE", "tiny        16", "deepseek  1006  default"]);
  });
});
