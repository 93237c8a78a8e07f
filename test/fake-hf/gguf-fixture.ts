/**
 * Writes small but valid GGUF v3 files for tests: chosen metadata, F32 tensors of chosen shapes (zeros),
 * optionally padded so downloads span many chunks. Enough for the reader; not meant to be loaded by llama.cpp.
 */
export interface GgufFixtureOptions {
  metadata?: Record<string, string | number | bigint | boolean | string[]>;
  tensors?: Array<{ name: string; dims: number[] }>;
  /** Extra zero bytes at the end (tensor data region), to make the file bigger. */
  padBytes?: number;
}

const ALIGNMENT = 32;

export function makeGguf(options: GgufFixtureOptions = {}): Buffer {
  const chunks: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    chunks.push(b);
  };
  const u64 = (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    chunks.push(b);
  };
  const str = (s: string) => {
    const bytes = Buffer.from(s, "utf8");
    u64(bytes.length);
    chunks.push(bytes);
  };
  const metadata = Object.entries(options.metadata ?? {});
  const tensors = options.tensors ?? [];

  u32(0x46554747);
  u32(3);
  u64(tensors.length);
  u64(metadata.length);
  for (const [key, value] of metadata) {
    str(key);
    if (typeof value === "string") {
      u32(8);
      str(value);
    } else if (typeof value === "boolean") {
      u32(7);
      chunks.push(Buffer.from([value ? 1 : 0]));
    } else if (typeof value === "bigint") {
      u32(10);
      u64(value);
    } else if (typeof value === "number") {
      if (Number.isInteger(value)) {
        u32(4);
        u32(value);
      } else {
        u32(6);
        const b = Buffer.alloc(4);
        b.writeFloatLE(value);
        chunks.push(b);
      }
    } else {
      u32(9);
      u32(8);
      u64(value.length);
      for (const item of value) str(item);
    }
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const tensor of tensors) {
    str(tensor.name);
    u32(tensor.dims.length);
    for (const dim of tensor.dims) u64(dim);
    u32(0); // F32
    u64(offset);
    const bytes = tensor.dims.reduce((a, b) => a * b, 1) * 4;
    sizes.push(bytes);
    offset += Math.ceil(bytes / ALIGNMENT) * ALIGNMENT;
  }
  const header = Buffer.concat(chunks);
  const headerPadded = Math.ceil(header.length / ALIGNMENT) * ALIGNMENT;
  return Buffer.concat([
    header,
    Buffer.alloc(headerPadded - header.length),
    Buffer.alloc(offset),
    Buffer.alloc(options.padBytes ?? 0),
  ]);
}
