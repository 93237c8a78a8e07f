import { type FileHandle, open } from "node:fs/promises";
import { GgufFormatError } from "../errors.ts";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  type GgufMetadataValue,
  type GgufScalar,
  type GgufScalarTypeName,
  GgufValueType,
  type GgufValueTypeName,
} from "./constants.ts";

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] (ne0) is the fastest-varying one, the input dimension of a linear weight. */
  dims: number[];
  /** ggml type id (0 = F32, 1 = F16, 2 = Q4_0, 8 = Q8_0, ...). */
  type: number;
  /** Byte offset relative to `dataOffset`. */
  offset: number;
}

export interface GgufInfo {
  version: number;
  metadata: Map<string, GgufMetadataValue>;
  tensors: GgufTensorInfo[];
  /** Absolute byte offset where tensor data begins. */
  dataOffset: number;
  alignment: number;
}

const typeNameById = new Map<number, GgufValueTypeName>(
  Object.entries(GgufValueType).map(([name, id]) => [id, name as GgufValueTypeName]),
);
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Reads a file front to back through a window that it refills on demand, so GB files cost only what is parsed. */
class Cursor {
  readonly #file: FileHandle;
  #buffer = Buffer.alloc(1 << 20);
  #bufferStart = 0; // file offset of #buffer[0]
  #bufferEnd = 0; // valid bytes in #buffer
  #pos = 0; // position inside #buffer

  constructor(file: FileHandle) {
    this.#file = file;
  }

  get offset(): number {
    return this.#bufferStart + this.#pos;
  }

  async #fill(need: number): Promise<void> {
    const keep = this.#bufferEnd - this.#pos;
    if (need > this.#buffer.length) {
      const bigger = Buffer.alloc(Math.max(need, this.#buffer.length * 2));
      this.#buffer.copy(bigger, 0, this.#pos, this.#bufferEnd);
      this.#buffer = bigger;
    } else {
      this.#buffer.copyWithin(0, this.#pos, this.#bufferEnd);
    }
    this.#bufferStart += this.#pos;
    this.#pos = 0;
    this.#bufferEnd = keep;
    while (this.#bufferEnd < need) {
      const { bytesRead } = await this.#file.read(
        this.#buffer,
        this.#bufferEnd,
        this.#buffer.length - this.#bufferEnd,
        this.#bufferStart + this.#bufferEnd,
      );
      if (bytesRead === 0) throw new GgufFormatError(`GGUF file ends early at byte ${this.offset + keep}`);
      this.#bufferEnd += bytesRead;
    }
  }

  async #take(n: number): Promise<number> {
    if (this.#pos + n > this.#bufferEnd) await this.#fill(n);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  async u32(): Promise<number> {
    return this.#buffer.readUInt32LE(await this.#take(4));
  }

  async u64(): Promise<bigint> {
    return this.#buffer.readBigUInt64LE(await this.#take(8));
  }

  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  async size(): Promise<number> {
    const value = await this.u64();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(`GGUF size ${value} is too large`);
    return Number(value);
  }

  async string(): Promise<string> {
    const length = await this.size();
    const at = await this.#take(length);
    return decoder.decode(this.#buffer.subarray(at, at + length));
  }

  async scalar(type: GgufScalarTypeName): Promise<GgufScalar> {
    const b = this.#buffer;
    switch (type) {
      case "uint8":
        return b.readUInt8(await this.#take(1));
      case "int8":
        return b.readInt8(await this.#take(1));
      case "uint16":
        return b.readUInt16LE(await this.#take(2));
      case "int16":
        return b.readInt16LE(await this.#take(2));
      case "uint32":
        return b.readUInt32LE(await this.#take(4));
      case "int32":
        return b.readInt32LE(await this.#take(4));
      case "float32":
        return b.readFloatLE(await this.#take(4));
      case "float64":
        return b.readDoubleLE(await this.#take(8));
      case "uint64":
        return b.readBigUInt64LE(await this.#take(8));
      case "int64":
        return b.readBigInt64LE(await this.#take(8));
      case "bool":
        return b.readUInt8(await this.#take(1)) !== 0;
      case "string":
        return this.string();
    }
  }

  async valueType(): Promise<GgufValueTypeName> {
    const id = await this.u32();
    const name = typeNameById.get(id);
    if (name === undefined)
      throw new GgufFormatError(`unknown GGUF value type ${id} at byte ${this.offset - 4}`);
    return name;
  }

  async value(type: GgufValueTypeName): Promise<GgufMetadataValue> {
    if (type !== "array") return { type, value: await this.scalar(type) } as GgufMetadataValue;
    const itemType = await this.valueType();
    if (itemType === "array") throw new GgufFormatError("nested GGUF arrays are not supported");
    const count = await this.size();
    const value: GgufScalar[] = new Array(count);
    for (let i = 0; i < count; i++) value[i] = await this.scalar(itemType);
    return { type: "array", itemType, value };
  }
}

/**
 * Reads a GGUF file's header, metadata and tensor infos, not its tensor data.
 * @throws GgufFormatError when the file is not GGUF v2/v3 or is truncated.
 */
export async function readGgufInfo(path: string): Promise<GgufInfo> {
  const file = await open(path, "r");
  try {
    const cursor = new Cursor(file);
    const magic = await cursor.u32();
    if (magic !== GGUF_MAGIC) throw new GgufFormatError(`${path} is not a GGUF file (bad magic)`);
    const version = await cursor.u32();
    if (version !== 2 && version !== 3)
      throw new GgufFormatError(`${path}: unsupported GGUF version ${version}`);
    const tensorCount = await cursor.size();
    const kvCount = await cursor.size();

    const metadata = new Map<string, GgufMetadataValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = await cursor.string();
      metadata.set(key, await cursor.value(await cursor.valueType()));
    }

    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await cursor.string();
      const nDims = await cursor.u32();
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(await cursor.size());
      const type = await cursor.u32();
      const offset = await cursor.size();
      tensors.push({ name, dims, type, offset });
    }

    const alignmentEntry = metadata.get("general.alignment");
    const alignment =
      alignmentEntry?.type === "uint32" && alignmentEntry.value > 0
        ? alignmentEntry.value
        : GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = Math.ceil(cursor.offset / alignment) * alignment;
    return { version, metadata, tensors, dataOffset, alignment };
  } finally {
    await file.close();
  }
}

/** The plain value of a metadata key (arrays as JS arrays), or undefined when absent. */
export function ggufValue(
  info: Pick<GgufInfo, "metadata">,
  key: string,
): GgufScalar | readonly GgufScalar[] | undefined {
  return info.metadata.get(key)?.value;
}
