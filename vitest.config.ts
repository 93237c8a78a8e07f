import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // llama.cpp contexts are heavy on a 2-core box: run files one after another.
    fileParallelism: false,
    pool: "forks",
  },
});
