import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  type GgmlTypeName,
  type GgufMetadataValue,
  type GgufScalar,
  type GgufScalarTypeName,
  GgufValueType,
  ggmlTensorBytes,
} from "./constants.ts";

export interface GgufTensorSpec {
  name: string;
  /** ggml order (ne0 first). */
  dims: readonly number[];
  type: GgmlTypeName;
  /**
   * Produces the tensor's bytes, already in `type`, in as many chunks as it likes; it is called
   * only when the writer reaches this tensor, so a model never has to sit in memory whole.
   * A chunk must not be changed after it is yielded (the writer batches chunks before writing).
   */
  data: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface WriteGgufOptions {
  path: string;
  metadata: Iterable<readonly [string, GgufMetadataValue]>;
  tensors: readonly GgufTensorSpec[];
}

export interface WriteGgufResult {
  path: string;
  bytes: number;
  sha256: string;
}

const FLUSH_BYTES = 8 << 20;

/** Accumulates small writes into one buffer so the header's 300k vocabulary strings are not 300k syscalls. */
class ByteSink {
  #chunks: Buffer[] = [];
  #scratch = Buffer.alloc(8);
  length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  u32(value: number): void {
    this.#scratch.writeUInt32LE(value, 0);
    this.push(Buffer.from(this.#scratch.subarray(0, 4)));
  }

  u64(value: number | bigint): void {
    this.#scratch.writeBigUInt64LE(BigInt(value), 0);
    this.push(Buffer.from(this.#scratch));
  }

  string(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    this.u64(bytes.length);
    this.push(bytes);
  }

  scalar(type: GgufScalarTypeName, value: GgufScalar): void {
    if (type === "string") {
      this.string(String(value));
      return;
    }
    const size =
      { uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4 }[type as string] ??
      8;
    const b = Buffer.alloc(size);
    if (type === "uint8") b.writeUInt8(Number(value));
    else if (type === "int8") b.writeInt8(Number(value));
    else if (type === "bool") b.writeUInt8(value ? 1 : 0);
    else if (type === "uint16") b.writeUInt16LE(Number(value));
    else if (type === "int16") b.writeInt16LE(Number(value));
    else if (type === "uint32") b.writeUInt32LE(Number(value));
    else if (type === "int32") b.writeInt32LE(Number(value));
    else if (type === "float32") b.writeFloatLE(Number(value));
    else if (type === "float64") b.writeDoubleLE(Number(value));
    else if (type === "uint64") b.writeBigUInt64LE(BigInt(value));
    else b.writeBigInt64LE(BigInt(value));
    this.push(b);
  }

  value(entry: GgufMetadataValue): void {
    this.u32(GgufValueType[entry.type]);
    if (entry.type !== "array") {
      this.scalar(entry.type, entry.value);
      return;
    }
    this.u32(GgufValueType[entry.itemType]);
    this.u64(entry.value.length);
    for (const item of entry.value) this.scalar(entry.itemType, item);
  }

  take(): Buffer {
    const all = Buffer.concat(this.#chunks, this.length);
    this.#chunks = [];
    this.length = 0;
    return all;
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/**
 * Writes a GGUF v3 file tensor by tensor to `<path>.tmp`, then renames it into place, so readers
 * never see a half-written model. Returns the file's size and SHA-256.
 */
export async function writeGguf(options: WriteGgufOptions): Promise<WriteGgufResult> {
  const metadata = new Map(options.metadata);
  const alignmentEntry = metadata.get("general.alignment");
  const alignment = alignmentEntry?.type === "uint32" ? alignmentEntry.value : GGUF_DEFAULT_ALIGNMENT;

  const header = new ByteSink();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(options.tensors.length);
  header.u64(metadata.size);
  for (const [key, entry] of metadata) {
    header.string(key);
    header.value(entry);
  }
  const sizes: number[] = [];
  let offset = 0;
  for (const tensor of options.tensors) {
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    const rowLength = tensor.dims[0] ?? 1;
    ggmlTensorBytes(tensor.type, rowLength); // rows must hold whole blocks
    const size = ggmlTensorBytes(tensor.type, count);
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const dim of tensor.dims) header.u64(dim);
    header.u32(GgmlType[tensor.type]);
    header.u64(offset);
    sizes.push(size);
    offset = alignUp(offset + size, alignment);
  }
  const headerLength = header.length;
  header.push(Buffer.alloc(alignUp(headerLength, alignment) - headerLength));

  const tmpPath = `${options.path}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
  const file = await open(tmpPath, "w");
  const hash = createHash("sha256");
  let written = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    hash.update(chunk);
    await file.write(chunk, 0, chunk.length);
    written += chunk.length;
  };
  const emit = async (chunk: Uint8Array) => {
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    pendingBytes += chunk.length;
    if (pendingBytes >= FLUSH_BYTES) await flush();
  };

  try {
    await emit(header.take());
    for (const [index, tensor] of options.tensors.entries()) {
      const expected = sizes[index] as number;
      let produced = 0;
      for await (const chunk of tensor.data()) {
        produced += chunk.length;
        await emit(chunk);
      }
      if (produced !== expected) {
        throw new RangeError(`tensor ${tensor.name}: produced ${produced} bytes, expected ${expected}`);
      }
      const padding = alignUp(expected, alignment) - expected;
      if (padding > 0) await emit(new Uint8Array(padding));
    }
    await flush();
    await file.sync();
    await file.close();
    await rename(tmpPath, options.path);
  } catch (error) {
    await file.close().catch(() => {});
    await rm(tmpPath, { force: true });
    throw error;
  }
  return { path: options.path, bytes: written, sha256: hash.digest("hex") };
}
