import { type GgmlTypeName, ggmlTensorBytes } from "./constants.ts";

const QK = 32;
const f32 = Math.fround;

/** C `roundf`: halves away from zero (JS `Math.round` rounds -2.5 to -2). */
function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

function f16Bits(value: number): number {
  scratchF16[0] = value;
  return scratchU16[0] as number;
}
const scratchF16 = new Float16Array(1);
const scratchU16 = new Uint16Array(scratchF16.buffer);

export function quantizeF32(src: Float32Array): Uint8Array {
  return new Uint8Array(src.slice().buffer);
}

export function quantizeF16(src: Float32Array): Uint8Array {
  return new Uint8Array(Float16Array.from(src).buffer);
}

/** Q8_0 as `quantize_row_q8_0_ref`: per block of 32, f16 d = max|x| / 127, int8 q = roundf(x / d). */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
  const blocks = src.length / QK;
  if (!Number.isInteger(blocks)) throw new RangeError(`Q8_0 needs a multiple of ${QK} values`);
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const v = Math.abs(src[base + j] as number);
      if (v > amax) amax = v;
    }
    const d = f32(amax / 127);
    const id = d !== 0 ? f32(1 / d) : 0;
    const o = b * 34;
    view.setUint16(o, f16Bits(d), true);
    for (let j = 0; j < QK; j++) qs[o + 2 + j] = roundf(f32((src[base + j] as number) * id));
  }
  return out;
}

/**
 * Q4_0 as `quantize_row_q4_0_ref`: d = (the value with the largest magnitude) / -8,
 * q = min(15, trunc(x / d + 8.5)); byte j holds q[j] (low nibble) and q[j + 16] (high nibble).
 */
export function quantizeQ4_0(src: Float32Array): Uint8Array {
  const blocks = src.length / QK;
  if (!Number.isInteger(blocks)) throw new RangeError(`Q4_0 needs a multiple of ${QK} values`);
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[base + j] as number;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f32(max / -8);
    const id = d !== 0 ? f32(1 / d) : 0;
    const o = b * 18;
    view.setUint16(o, f16Bits(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = f32((src[base + j] as number) * id);
      const x1 = f32((src[base + QK / 2 + j] as number) * id);
      const q0 = Math.min(15, Math.trunc(f32(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(f32(x1 + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Encodes `src` (a whole number of rows) in `type`. */
export function quantize(type: GgmlTypeName, src: Float32Array): Uint8Array {
  switch (type) {
    case "F32":
      return quantizeF32(src);
    case "F16":
      return quantizeF16(src);
    case "Q8_0":
      return quantizeQ8_0(src);
    case "Q4_0":
      return quantizeQ4_0(src);
  }
}

/** Decodes bytes written by {@link quantize}; used by tests and tools, not on a hot path. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, count: number): Float32Array {
  if (bytes.length !== ggmlTensorBytes(type, count))
    throw new RangeError(`${type}: wrong byte count for ${count}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case "F16":
      for (let i = 0; i < count; i++) out[i] = view.getFloat16(i * 2, true);
      return out;
    case "Q8_0":
      for (let b = 0; b < count / QK; b++) {
        const d = view.getFloat16(b * 34, true);
        for (let j = 0; j < QK; j++) out[b * QK + j] = d * view.getInt8(b * 34 + 2 + j);
      }
      return out;
    case "Q4_0":
      for (let b = 0; b < count / QK; b++) {
        const d = view.getFloat16(b * 18, true);
        for (let j = 0; j < QK / 2; j++) {
          const byte = view.getUint8(b * 18 + 2 + j);
          out[b * QK + j] = ((byte & 0x0f) - 8) * d;
          out[b * QK + QK / 2 + j] = ((byte >> 4) - 8) * d;
        }
      }
      return out;
  }
}
