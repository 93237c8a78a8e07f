import { defineConfig } from "vitest/config";
import type { Reporter } from "vitest/node";

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

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // llama.cpp contexts are heavy on a 2-core box: run files one after another.
    fileParallelism: false,
    pool: "forks",
    reporters: ["default", plainSummary],
  },
});
