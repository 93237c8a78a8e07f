import { describe, expect, it } from "vitest";
import { SeededRandom } from "../random.ts";
import { dequantize, quantize, quantizeQ4_0, quantizeQ8_0 } from "./quantize.ts";

function randomValues(count: number, seed: number, std = 1): Float32Array {
  const values = new Float32Array(count);
  new SeededRandom(seed).fillNormalish(values, std);
  return values;
}

function blockScale(values: Float32Array, block: number, divisor: number): number {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[block * 32 + j] as number));
  return amax / divisor;
}

describe("Q8_0", () => {
  it("packs blocks of 32 as an f16 scale then 32 int8 (ggml's block_q8_0)", () => {
    const values = Float32Array.from({ length: 32 }, (_, j) => j - 16); // amax 16
    const bytes = quantizeQ8_0(values);
    expect(bytes.length).toBe(34);
    const view = new DataView(bytes.buffer);
    expect(view.getFloat16(0, true)).toBe(Math.f16round(16 / 127));
    expect(view.getInt8(2)).toBe(-127); // -16 / d
    expect(view.getInt8(2 + 16)).toBe(0);
    expect(view.getInt8(2 + 24)).toBe(Math.round((8 * 127) / 16));
  });

  it("rounds halves away from zero like C roundf", () => {
    const values = new Float32Array(32);
    values[0] = 127; // d = 1 exactly
    values[1] = -2.5;
    values[2] = 2.5;
    const qs = new Int8Array(quantizeQ8_0(values).buffer, 2, 32);
    expect([qs[0], qs[1], qs[2]]).toEqual([127, -3, 3]);
  });

  it("dequantises within half a step (plus f16 rounding of the scale)", () => {
    const values = randomValues(32 * 256, 7);
    const back = dequantize("Q8_0", quantize("Q8_0", values), values.length);
    for (let i = 0; i < values.length; i++) {
      const d = blockScale(values, Math.floor(i / 32), 127);
      expect(Math.abs((back[i] as number) - (values[i] as number))).toBeLessThanOrEqual(
        d * 0.5 + d * 127 * 1e-3,
      );
    }
  });
});

describe("Q4_0", () => {
  it("matches quantize_row_q4_0_ref on a known block, nibbles q[j] | q[j+16] << 4", () => {
    const values = Float32Array.from({ length: 32 }, (_, j) => j - 16); // max by magnitude: -16, so d = 2
    const bytes = quantizeQ4_0(values);
    expect(bytes.length).toBe(18);
    expect(new DataView(bytes.buffer).getFloat16(0, true)).toBe(2);
    // q_j = min(15, trunc((j - 16) / 2 + 8.5)) = min(15, floor((j + 1) / 2))
    const q = Array.from({ length: 32 }, (_, j) => Math.min(15, Math.floor((j + 1) / 2)));
    const expected = Array.from({ length: 16 }, (_, j) => (q[j] as number) | ((q[j + 16] as number) << 4));
    expect([...bytes.subarray(2)]).toEqual(expected);
  });

  it("dequantises within one step (the positive end clamps at 15)", () => {
    const values = randomValues(32 * 256, 11);
    const back = dequantize("Q4_0", quantize("Q4_0", values), values.length);
    let sumSquaredError = 0;
    for (let i = 0; i < values.length; i++) {
      const d = blockScale(values, Math.floor(i / 32), 8);
      const error = Math.abs((back[i] as number) - (values[i] as number));
      expect(error).toBeLessThanOrEqual(d * 1.01);
      sumSquaredError += error * error;
    }
    // Most values sit well inside the range, where the error is at most half a step.
    expect(Math.sqrt(sumSquaredError / values.length)).toBeLessThan(0.15);
  });
});

describe("F16 and F32", () => {
  it("round-trips F32 exactly and F16 to the nearest half", () => {
    const values = randomValues(64, 3, 0.5);
    expect(dequantize("F32", quantize("F32", values), 64)).toEqual(values);
    const half = dequantize("F16", quantize("F16", values), 64);
    for (let i = 0; i < 64; i++) expect(half[i]).toBe(Math.f16round(values[i] as number));
  });

  it("rejects rows that are not whole blocks", () => {
    expect(() => quantize("Q8_0", new Float32Array(33))).toThrow(RangeError);
  });
});
