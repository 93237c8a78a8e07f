/** GGUF metadata value type ids, as `gguf.h` numbers them. */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufValueTypeName = keyof typeof GgufValueType;
export type GgufNumberTypeName =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "float32"
  | "float64";
export type GgufBigIntTypeName = "uint64" | "int64";
export type GgufScalarTypeName = GgufNumberTypeName | GgufBigIntTypeName | "bool" | "string";
export type GgufScalar = number | bigint | boolean | string;

/** A metadata value together with its GGUF type, so that a file read back can be written unchanged. */
export type GgufMetadataValue =
  | { type: GgufNumberTypeName; value: number }
  | { type: GgufBigIntTypeName; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: GgufScalarTypeName; value: readonly GgufScalar[] };

/** ggml tensor type ids (`ggml.h`) for the types Bastion writes. Others are read as their number. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
} as const;
export type GgmlTypeName = keyof typeof GgmlType;
export type GgmlTypeId = (typeof GgmlType)[GgmlTypeName];

/** Elements per block and bytes per block, per `ggml_type_traits`. */
export const ggmlTypeLayout: Record<GgmlTypeName, { blockSize: number; blockBytes: number }> = {
  F32: { blockSize: 1, blockBytes: 4 },
  F16: { blockSize: 1, blockBytes: 2 },
  Q4_0: { blockSize: 32, blockBytes: 18 },
  Q8_0: { blockSize: 32, blockBytes: 34 },
};

/** `llama_ftype` values for `general.file_type` (note Q8_0 is 7 here, not ggml's 8). */
export const llamaFileType: Record<GgmlTypeName, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7 };

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  for (const [name, value] of Object.entries(GgmlType)) if (value === id) return name as GgmlTypeName;
  return undefined;
}

/** Bytes that `count` elements of `type` take on disk. */
export function ggmlTensorBytes(type: GgmlTypeName, count: number): number {
  const { blockSize, blockBytes } = ggmlTypeLayout[type];
  if (count % blockSize !== 0) {
    throw new RangeError(`${type} needs a multiple of ${blockSize} elements per row, got ${count}`);
  }
  return (count / blockSize) * blockBytes;
}
