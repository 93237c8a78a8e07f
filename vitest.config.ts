import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { defineConfig } from "vitest/config";
import type { Reporter } from "vitest/node";

// Tests never touch the user's own data directory (~/.local/share/bastion): a server or platform
// that a test starts without one of its own gets a fresh one per run. Its `cache` (llama.cpp's
// extracted vocabularies) is kept across runs in the checkout's git-ignored .cache/.
if (process.env.BASTION_DATA_DIR === undefined || process.env.BASTION_DATA_DIR === "") {
  const dataDir = mkdtempSync(join(tmpdir(), "bastion-test-data-"));
  const cache = resolve(import.meta.dirname, ".cache", "test-data-cache");
  mkdirSync(cache, { recursive: true });
  symlinkSync(cache, join(dataDir, "cache"));
  process.env.BASTION_DATA_DIR = dataDir;
}

/** Ends the run with a plain `N passed, N failed, N skipped` line that any CI log reader understands. */
const plainSummary: Reporter = {
  onTestRunEnd(testModules) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") counts.passed++;
        else if (state === "failed") counts.failed++;
        else counts.skipped++;
      }
    }
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  },
};

// The CLI and `bastion serve` processes that tests start (several per CLI test) each compile the same
// TypeScript sources and dependencies; Node's compile cache lets all but the first skip that. Set
// before vitest starts its worker, so that the worker and every process it starts inherit it.
process.env.NODE_COMPILE_CACHE ??= resolve(import.meta.dirname, ".cache", "node-compile-cache");

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // expect.poll waits for something to happen: a second (vitest's default) is too tight when both
    // cores are busy. A test whose condition never holds still fails, 30 s later.
    expect: { poll: { timeout: 30_000 } },
    // llama.cpp contexts are heavy on a 2-core box: run files one after another.
    fileParallelism: false,
    pool: "forks",
    // One worker runs every file: each file importing the platform's module graph afresh in a new
    // fork cost about a second of CPU per file (107 files). Test files must therefore leave no
    // process-wide state behind (llama.cpp's runtime stays open: see src/models/llama.test.ts).
    isolate: false,
    reporters: ["default", plainSummary],
  },
});
