import { describe, expect, it } from "vitest";
import { defaultThreadCount } from "./threads.ts";

describe("default thread count", () => {
  it("uses every core of an idle machine", () => {
    expect(defaultThreadCount(2, 0.1)).toBe(2);
    expect(defaultThreadCount(16, 0.4)).toBe(16);
  });

  it("leaves the cores other processes keep busy", () => {
    expect(defaultThreadCount(2, 1.1)).toBe(1);
    expect(defaultThreadCount(8, 2.6)).toBe(5);
  });

  it("never goes below one thread", () => {
    expect(defaultThreadCount(2, 7)).toBe(1);
    expect(defaultThreadCount(1, 0)).toBe(1);
  });
});
