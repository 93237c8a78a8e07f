/**
 * llama.cpp's own `llama-server` (and `llama-bench`, `llama-quantize`), built once from the llama.cpp
 * source that node-llama-cpp ships (`node_modules/node-llama-cpp/llama/gitRelease.bundle`), so that
 * `npm run bench:engine -- --vs-llama-server` measures Bastion against the very llama.cpp revision
 * it runs on. The clone and the build live under `.cache/` (git-ignored) and are reused when
 * present; nothing is downloaded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Where the source and the binaries go, and how many compile jobs to run. */
export interface LlamaServerBuildOptions {
  /** Repository root (holds node_modules/ and .cache/). */
  root: string;
  /** Parallel compile jobs (`cmake --build -j`). */
  jobs: number;
  /** Progress lines go here (the build's own output goes to stderr as well). */
  log: (line: string) => void;
}

/**
 * x86 CPUs can advertise AMX while the (virtual) machine never enables its tile state; ggml's AMX
 * matrix code then dies with an invalid opcode at the first multiplication (seen on our CI VM). An
 * explicit -mno-amx-* wins over -march=native in GCC and Clang, so the rest stays native. Bastion's
 * prebuilt llama.cpp (node-llama-cpp's CPU variants, chosen at run time) runs there without AMX too.
 */
const noAmx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16";

/**
 * The cmake options of the build: native CPU code, no network client. GGML_OPENMP=OFF because
 * node-llama-cpp's prebuilt binaries (what Bastion runs) are built without OpenMP and use ggml's own
 * threads; llama.cpp's default is OpenMP, whose spinning barriers behave very differently on a small
 * shared machine, so with it the comparison would measure two thread runtimes, not two servers.
 */
export const llamaCppCmakeOptions = [
  "-DGGML_NATIVE=ON",
  "-DGGML_OPENMP=OFF",
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_SERVER=ON",
  "-DCMAKE_BUILD_TYPE=Release",
  ...(process.arch === "x64" ? [`-DCMAKE_C_FLAGS=${noAmx}`, `-DCMAKE_CXX_FLAGS=${noAmx}`] : []),
];

/** The server, llama.cpp's raw-speed tool (same kernels, no server) and the quantiser (writes Q4_K_M). */
const targets = ["llama-server", "llama-bench", "llama-quantize"] as const;

/** A llama.cpp build from node-llama-cpp's bundled source. */
export interface LlamaCppBuild {
  server: string;
  bench: string;
  quantize: string;
  /** The options it was configured with and the source commit, for the results file. */
  cmakeOptions: string[];
  commit: string;
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The build's output goes to stderr so that the table on stdout stays clean.
    const child = spawn(command, args, { cwd, stdio: ["ignore", process.stderr, process.stderr] });
    child.once("error", (error) =>
      reject(new Error(`could not run ${command} (${error.message}); is it installed?`)),
    );
    child.once("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit code ${code}`})`)),
    );
  });
}

/** Runs a command and returns its stdout (stderr goes to ours). */
function output(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", process.stderr] });
    let text = "";
    child.stdout?.on("data", (bytes: Buffer) => {
      text += bytes.toString();
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      code === 0
        ? resolve(text)
        : reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit code ${code}`})`)),
    );
  });
}

/**
 * Returns llama.cpp's server, bench and quantiser built from node-llama-cpp's bundled llama.cpp
 * source, cloning the bundle into `.cache/llama.cpp-src/` and building it with cmake the first time
 * (many minutes on a small machine). The options are stamped next to the build: a build made with
 * other options (an older version of this file) is reconfigured and rebuilt incrementally, so the
 * binaries always match `llamaCppCmakeOptions`. Later calls find them and return at once.
 */
export async function ensureLlamaCppBuild(options: LlamaServerBuildOptions): Promise<LlamaCppBuild> {
  const source = join(options.root, ".cache", "llama.cpp-src");
  const bin = join(source, "build", "bin");
  const stampFile = join(source, "build", "bastion-build.json");
  const stamp = JSON.stringify({ cmakeOptions: llamaCppCmakeOptions, targets });
  const build = async (): Promise<LlamaCppBuild> => ({
    server: join(bin, "llama-server"),
    bench: join(bin, "llama-bench"),
    quantize: join(bin, "llama-quantize"),
    cmakeOptions: llamaCppCmakeOptions,
    commit: (await output("git", ["rev-parse", "HEAD"], source)).trim(),
  });
  const built = targets.every((target) => existsSync(join(bin, target)));
  if (built && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return build();
  const bundle = join(options.root, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
  if (!existsSync(bundle))
    throw new Error(`${bundle} is missing; node-llama-cpp ships its llama.cpp source there`);
  if (!existsSync(join(source, "CMakeLists.txt"))) {
    options.log(`cloning node-llama-cpp's llama.cpp source into ${source}`);
    await run("git", ["clone", "--quiet", bundle, source], options.root);
  }
  options.log(
    `building ${targets.join(", ")} (${options.jobs} jobs); this takes many minutes the first time`,
  );
  await run("cmake", ["-B", "build", ...llamaCppCmakeOptions], source);
  await run("cmake", ["--build", "build", "--target", ...targets, `-j${options.jobs}`], source);
  for (const target of targets)
    if (!existsSync(join(bin, target))) throw new Error(`the build finished but ${target} is missing`);
  writeFileSync(stampFile, stamp);
  return build();
}

/**
 * Writes `output` as `input` requantised to `type` (e.g. "Q4_K_M") with llama.cpp's own quantiser,
 * unless it exists. Our synthetic writer only produces F32, F16, Q8_0 and Q4_0; compute per token
 * does not depend on the weights' values, so a Q4_K_M made from the synthetic Q8_0 costs what the
 * real Q4_K_M costs.
 */
export async function ensureQuantized(
  build: LlamaCppBuild,
  input: string,
  outputPath: string,
  type: string,
): Promise<string> {
  if (existsSync(outputPath)) return outputPath;
  const partial = `${outputPath}.partial`;
  await run(build.quantize, ["--allow-requantize", input, partial, type], dirname(outputPath));
  renameSync(partial, outputPath);
  return outputPath;
}

/**
 * Batch sizes and flash attention as node-llama-cpp sets them, given to llama-bench and
 * llama-server alike so that both llama.cpp sides run like Bastion's.
 */
const batchArgs = ["-b", "512", "-ub", "512", "-fa", "auto"];

/** One llama-bench measurement: prompt processing and generation tokens per second. */
export interface LlamaBenchResult {
  args: string[];
  promptTokensPerSecond: number;
  generationTokensPerSecond: number;
}

/**
 * llama.cpp's raw speed on a model, without a server: `llama-bench` with `prompt` tokens of prompt
 * processing and `generate` single-token decodes, batch sizes as node-llama-cpp sets them.
 */
export async function runLlamaBench(
  build: LlamaCppBuild,
  modelPath: string,
  threads: number,
  prompt: number,
  generate: number,
): Promise<LlamaBenchResult> {
  const args = [
    "-m",
    modelPath,
    "-t",
    String(threads),
    "-p",
    String(prompt),
    "-n",
    String(generate),
    ...batchArgs,
    "-r",
    "1",
    "-o",
    "json",
  ];
  const rows = JSON.parse(await output(build.bench, args, dirname(modelPath))) as {
    n_prompt: number;
    n_gen: number;
    avg_ts: number;
  }[];
  const pick = (predicate: (row: { n_prompt: number; n_gen: number }) => boolean) => {
    const row = rows.find(predicate);
    if (row === undefined) throw new Error(`llama-bench printed no such test: ${JSON.stringify(rows)}`);
    return row.avg_ts;
  };
  return {
    args,
    promptTokensPerSecond: pick((row) => row.n_prompt === prompt && row.n_gen === 0),
    generationTokensPerSecond: pick((row) => row.n_prompt === 0 && row.n_gen === generate),
  };
}

/** How to start llama-server so that it matches a Bastion started with the same numbers. */
export interface LlamaServerOptions {
  binary: string;
  modelPath: string;
  port: number;
  threads: number;
  /** Parallel sequences (`-np`). */
  parallel: number;
  /** Context tokens per sequence; llama-server's `-c` is the total, so it gets parallel × this. */
  contextPerSequence: number;
}

/** A started llama-server. */
export interface StartedLlamaServer {
  url: string;
  /** The command line it was started with, for the results file. */
  args: string[];
  stop(): Promise<void>;
}

/**
 * Starts llama-server on loopback with what Bastion's node-llama-cpp context uses for the same
 * numbers, each stated on the command line rather than left to llama-server's defaults:
 * - same threads for decode and prompt (`-t`, `-tb`), same parallel sequences (`-np`), same
 *   context per sequence (`-c` is the total), each sequence in its own KV cells (`--no-kv-unified`;
 *   node-llama-cpp sets kv_unified off);
 * - batch and micro-batch 512 (node-llama-cpp: min(context × sequences, 512) for both; llama-server's
 *   default batch is 2048), flash attention `auto` (node-llama-cpp's default, as llama-server's);
 * - no host-memory prompt cache (`--cache-ram 0`): Bastion keeps none, and on fresh prompts it only
 *   costs llama-server the copies of idle slots;
 * - continuous batching on and `--jinja` (the model's own chat template, as Bastion uses).
 * Then waits until `/health` says the model is loaded.
 */
export async function startLlamaServer(options: LlamaServerOptions): Promise<StartedLlamaServer> {
  const args = [
    "-m",
    options.modelPath,
    "--host",
    "127.0.0.1",
    "--port",
    String(options.port),
    "-t",
    String(options.threads),
    "-tb",
    String(options.threads),
    "-np",
    String(options.parallel),
    "-c",
    String(options.parallel * options.contextPerSequence),
    "--no-kv-unified",
    ...batchArgs,
    "--cache-ram",
    "0",
    "--cont-batching",
    "--jinja",
    "--no-webui",
  ];
  const child: ChildProcess = spawn(options.binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  // Keep its log for the error message; llama-server logs every request at its default verbosity.
  let logTail = "";
  child.stderr?.on("data", (bytes: Buffer) => {
    logTail = (logTail + bytes.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  for (let attempt = 0; attempt < 1200; attempt++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited at start:\n${logTail}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, args, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`llama-server did not become healthy within 120 s:\n${logTail}`);
}
