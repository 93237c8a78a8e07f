import { describe, expect, it } from "vitest";
import { ModelPullError } from "./errors.ts";
import { createProgressBar, formatProgressLine } from "./progress.ts";
import { selectQuantFiles } from "./pull.ts";
import { modelIdFromFileName, parseModelRef, quantFromFileName, splitPartNames } from "./ref.ts";

const inCatalog = (name: string) => name === "deepseek-r1-distill-qwen-1.5b";

describe("parseModelRef", () => {
  it("reads the four accepted forms", () => {
    expect(parseModelRef("hf:bartowski/Repo-GGUF/sub/File-Q4_K_M.gguf", inCatalog)).toEqual({
      kind: "hf-file",
      owner: "bartowski",
      repo: "Repo-GGUF",
      revision: "main",
      path: "sub/File-Q4_K_M.gguf",
    });
    expect(parseModelRef("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:q4_k_m#v1", inCatalog)).toEqual({
      kind: "hf-quant",
      owner: "Qwen",
      repo: "Qwen2.5-0.5B-Instruct-GGUF",
      revision: "v1",
      quant: "q4_k_m",
    });
    expect(parseModelRef("deepseek-r1-distill-qwen-1.5b", inCatalog)).toEqual({
      kind: "catalog",
      name: "deepseek-r1-distill-qwen-1.5b",
    });
    expect(parseModelRef("https://example.org/m.gguf", inCatalog)).toMatchObject({ kind: "url" });
    expect(parseModelRef("http://127.0.0.1:8080/m.gguf", inCatalog)).toMatchObject({ kind: "url" });
  });

  it.each([
    ["", /empty/],
    ["hf:owner", /expected hf:owner\/repo/],
    ["hf:owner/repo", /name a file/],
    ["hf:owner/repo/readme.md", /only \.gguf/],
    ["hf:owner/repo/../x.gguf", /not valid/],
    ["http://example.org/m.gguf", /plain http is refused/],
    ["no-such-model", /not in the catalog/],
    ["C:\\models\\x", /not recognised/],
  ])("rejects %j, listing the accepted forms", (input, why) => {
    let error: unknown;
    try {
      parseModelRef(input, inCatalog);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelPullError);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).toContain("Accepted: hf:owner/repo/path/file.gguf");
  });
});

describe("file names", () => {
  it.each([
    ["DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf", "Q4_K_M"],
    ["qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"],
    ["EuroLLM-1.7B-Instruct.Q4_K_M.gguf", "Q4_K_M"],
    ["Model-IQ4_XS-00001-of-00003.gguf", "IQ4_XS"],
    ["bge-m3-F16.gguf", "F16"],
    ["Model-Q8_0.gguf", "Q8_0"],
    ["model.gguf", undefined],
  ])("reads the quantisation of %s", (name, quant) => {
    expect(quantFromFileName(name)).toBe(quant);
  });

  it("names split parts and ids", () => {
    expect(splitPartNames("M-Q6_K-00002-of-00003.gguf")).toEqual([
      "M-Q6_K-00001-of-00003.gguf",
      "M-Q6_K-00002-of-00003.gguf",
      "M-Q6_K-00003-of-00003.gguf",
    ]);
    expect(modelIdFromFileName("sub/M-Q6_K-00002-of-00003.gguf")).toBe("m-q6_k");
    expect(modelIdFromFileName("Weird Name (v2).gguf")).toBe("weird-name-v2");
  });

  it("prefers a single file over a split set and needs a complete set", () => {
    const file = (path: string) => ({ path, size: 1, sha256: undefined });
    const listing = [
      file("a/M-Q4_K_M-00001-of-00002.gguf"),
      file("a/M-Q4_K_M-00002-of-00002.gguf"),
      file("M-Q4_K_M.gguf"),
    ];
    expect(selectQuantFiles(listing, "q4_k_m", "o/r").map((f) => f.path)).toEqual(["M-Q4_K_M.gguf"]);
    expect(selectQuantFiles(listing.slice(0, 2), "Q4_K_M", "o/r").map((f) => f.path)).toEqual([
      "a/M-Q4_K_M-00001-of-00002.gguf",
      "a/M-Q4_K_M-00002-of-00002.gguf",
    ]);
    expect(() => selectQuantFiles(listing.slice(0, 1), "Q4_K_M", "o/r")).toThrow(/no Q4_K_M GGUF file/);
  });
});

describe("progress", () => {
  it("formats bytes, speed and ETA", () => {
    expect(
      formatProgressLine({
        file: "m.gguf",
        downloadedBytes: 500_000_000,
        totalBytes: 1_000_000_000,
        bytesPerSecond: 10_000_000,
      }),
    ).toBe("m.gguf [############............]  50% 500 MB/1.0 GB 10.0 MB/s ETA 0:50");
  });

  it("writes a line every few seconds when not on a TTY, nothing when quiet", () => {
    const lines: string[] = [];
    let now = 0;
    const stream = {
      isTTY: false,
      write: (text: string) => lines.push(text),
    } as unknown as NodeJS.WritableStream;
    const bar = createProgressBar({ stream, now: () => now, lineIntervalMs: 5000 });
    for (now = 0; now <= 12_000; now += 1000)
      bar.onProgress({ file: "f", downloadedBytes: now, totalBytes: 12_000, bytesPerSecond: 1000 });
    bar.onProgress({ file: "f", downloadedBytes: 12_000, totalBytes: 12_000, bytesPerSecond: 0, done: true });
    expect(lines).toHaveLength(4);
    expect(lines.at(-1)).toMatch(/100% .* done\n$/);
    const quietLines: string[] = [];
    const quiet = createProgressBar({
      quiet: true,
      stream: { write: (t: string) => quietLines.push(t) } as unknown as NodeJS.WritableStream,
    });
    quiet.onProgress({ file: "f", downloadedBytes: 1, totalBytes: 2, bytesPerSecond: 1, done: true });
    expect(quietLines).toEqual([]);
  });
});
