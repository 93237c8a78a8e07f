/**
 * llama.cpp's own `llama-server`, built once from the llama.cpp source that node-llama-cpp ships
 * (`node_modules/node-llama-cpp/llama/gitRelease.bundle`), so that `npm run bench:engine --
 * --vs-llama-server` measures Bastion against the very llama.cpp revision it runs on. The clone and
 * the build live under `.cache/` (git-ignored) and are reused when present; nothing is downloaded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Where the source and the binary go, and how many compile jobs to run. */
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

/** The cmake options of the build: native CPU code, no network client, only the server target. */
const cmakeOptions = [
  "-DGGML_NATIVE=ON",
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_SERVER=ON",
  "-DCMAKE_BUILD_TYPE=Release",
  ...(process.arch === "x64" ? [`-DCMAKE_C_FLAGS=${noAmx}`, `-DCMAKE_CXX_FLAGS=${noAmx}`] : []),
];

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

/**
 * Returns the path of a `llama-server` binary built from node-llama-cpp's bundled llama.cpp source,
 * cloning the bundle into `.cache/llama.cpp-src/` and building it with cmake the first time (many
 * minutes on a small machine). Later calls find the binary and return at once.
 */
export async function ensureLlamaServer(options: LlamaServerBuildOptions): Promise<string> {
  const source = join(options.root, ".cache", "llama.cpp-src");
  const binary = join(source, "build", "bin", "llama-server");
  if (existsSync(binary)) return binary;
  const bundle = join(options.root, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
  if (!existsSync(bundle))
    throw new Error(`${bundle} is missing; node-llama-cpp ships its llama.cpp source there`);
  if (!existsSync(join(source, "CMakeLists.txt"))) {
    options.log(`cloning node-llama-cpp's llama.cpp source into ${source}`);
    await run("git", ["clone", "--quiet", bundle, source], options.root);
  }
  options.log(`building llama-server (${options.jobs} jobs); this takes many minutes the first time`);
  await run("cmake", ["-B", "build", ...cmakeOptions], source);
  await run("cmake", ["--build", "build", "--target", "llama-server", `-j${options.jobs}`], source);
  if (!existsSync(binary)) throw new Error(`the build finished but ${binary} is missing`);
  return binary;
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
 * Starts llama-server on loopback with the same threads, parallel sequences and context per
 * sequence as Bastion, continuous batching on and `--jinja` (so that `/v1/chat/completions` uses the
 * model's own chat template, as Bastion does), and waits until `/health` says the model is loaded.
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
