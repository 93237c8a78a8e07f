import { existsSync } from "node:fs";
import { mkdir, open, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufFormatError } from "../errors.ts";
import { testFixturesDir } from "../testing.ts";
import type { GgufMetadataValue } from "./constants.ts";
import { dequantize, quantize } from "./quantize.ts";
import { readGgufInfo } from "./reader.ts";
import { writeGguf } from "./writer.ts";

const dir = join(testFixturesDir, `gguf-${process.pid}`);

beforeAll(async () => {
  await mkdir(dir, { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metadata: [string, GgufMetadataValue][] = [
  ["general.architecture", { type: "string", value: "qwen2" }],
  ["test.u8", { type: "uint8", value: 255 }],
  ["test.i8", { type: "int8", value: -128 }],
  ["test.u16", { type: "uint16", value: 65535 }],
  ["test.i16", { type: "int16", value: -32768 }],
  ["test.u32", { type: "uint32", value: 4294967295 }],
  ["test.i32", { type: "int32", value: -2147483648 }],
  ["test.f32", { type: "float32", value: 0.5 }],
  ["test.f64", { type: "float64", value: Math.PI }],
  ["test.u64", { type: "uint64", value: 2n ** 64n - 1n }],
  ["test.i64", { type: "int64", value: -(2n ** 63n) }],
  ["test.bool", { type: "bool", value: true }],
  ["test.unicode", { type: "string", value: "<｜end▁of▁sentence｜> é 🙂" }],
  ["test.strings", { type: "array", itemType: "string", value: ["a", "", "Ġthe", "<think>"] }],
  ["test.ints", { type: "array", itemType: "int32", value: [1, -2, 3] }],
  ["test.empty", { type: "array", itemType: "uint32", value: [] }],
];

describe("GGUF writer and reader", () => {
  it("round-trips every metadata type, tensor infos and 32-byte-aligned data", async () => {
    const path = join(dir, "round-trip.gguf");
    const a = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 5 }, (_, i) => i);
    const result = await writeGguf({
      path,
      metadata,
      tensors: [
        {
          name: "a",
          dims: [64, 3],
          type: "Q8_0",
          data: () => [quantize("Q8_0", a.subarray(0, 128)), quantize("Q8_0", a.subarray(128))],
        },
        { name: "b", dims: [5], type: "F32", data: () => [quantize("F32", b)] },
        {
          name: "c",
          dims: [32, 2],
          type: "F16",
          data: async function* () {
            yield quantize("F16", a.subarray(0, 64));
          },
        },
      ],
    });
    const info = await readGgufInfo(path);
    expect(info.version).toBe(3);
    expect(info.alignment).toBe(32);
    expect([...info.metadata.entries()]).toEqual(metadata);
    expect(info.tensors).toEqual([
      { name: "a", dims: [64, 3], type: 8, offset: 0 },
      { name: "b", dims: [5], type: 0, offset: 224 }, // 6 blocks * 34 = 204, padded to 224
      { name: "c", dims: [32, 2], type: 1, offset: 256 }, // 224 + 20, padded
    ]);
    expect(info.dataOffset % 32).toBe(0);
    expect(result.bytes).toBe(info.dataOffset + 256 + 128);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);

    const file = await open(path, "r");
    try {
      const bytes = Buffer.alloc(204);
      await file.read(bytes, 0, 204, info.dataOffset);
      const back = dequantize("Q8_0", bytes, 192);
      for (let i = 0; i < 192; i++)
        expect(Math.abs((back[i] as number) - (a[i] as number))).toBeLessThan(0.01);
      const floats = Buffer.alloc(20);
      await file.read(floats, 0, 20, info.dataOffset + 224);
      expect([...new Float32Array(floats.buffer, floats.byteOffset, 5)]).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await file.close();
    }
  });

  it("refuses a tensor whose data has the wrong size and leaves no file behind", async () => {
    const path = join(dir, "bad.gguf");
    await expect(
      writeGguf({
        path,
        metadata: [],
        tensors: [{ name: "x", dims: [32], type: "F32", data: () => [new Uint8Array(4)] }],
      }),
    ).rejects.toThrow(/produced 4 bytes, expected 128/);
    expect(existsSync(path)).toBe(false);
    expect((await readdir(dir)).filter((name) => name.startsWith("bad.gguf"))).toEqual([]);
  });

  it("refuses rows that are not whole quantisation blocks", async () => {
    await expect(
      writeGguf({
        path: join(dir, "rows.gguf"),
        metadata: [],
        tensors: [{ name: "x", dims: [48, 2], type: "Q4_0", data: () => [] }],
      }),
    ).rejects.toThrow(RangeError);
  });

  it("rejects files that are not GGUF, and truncated ones", async () => {
    const notGguf = join(dir, "not.gguf");
    await writeFile(notGguf, "GGML and then some");
    await expect(readGgufInfo(notGguf)).rejects.toBeInstanceOf(GgufFormatError);
    const truncated = join(dir, "truncated.gguf");
    const header = Buffer.alloc(24);
    header.write("GGUF", 0, "latin1");
    header.writeUInt32LE(3, 4);
    header.writeBigUInt64LE(0n, 8);
    header.writeBigUInt64LE(1n, 16); // one key-value pair that never comes
    await writeFile(truncated, header);
    await expect(readGgufInfo(truncated)).rejects.toThrow(/ends early/);
  });
});
