// Measures the resident memory one model takes when served: loaded, with a context of `parallel`
// sequences, after a prompt that fills one sequence's context (so the compute buffers are touched).
// Run as its own process, so nothing else in it moves the numbers: node measure-ram.ts <file> <parallel> <contextSize>
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

function residentBytes(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return field("RssAnon") + field("RssFile");
}

const [path, parallelText, contextText] = process.argv.slice(2);
const parallel = Number(parallelText);
const contextSize = Number(contextText);
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, progressLogs: false });
const before = residentBytes();
const model = await llama.loadModel({ modelPath: String(path), useMmap: true });
const context = await model.createContext({ sequences: parallel, contextSize, threads: 2 });
const sequence = context.getSequence();
const words = "the quick brown fox jumps over the lazy dog ".repeat(Math.ceil(contextSize / 4));
const tokens = model.tokenize(words).slice(0, contextSize - 8);
const evaluation = sequence.evaluate(tokens);
await evaluation.next();
await evaluation.return(undefined);
process.stdout.write(`${JSON.stringify({ measuredBytes: residentBytes() - before })}\n`);
await context.dispose();
await model.dispose();
