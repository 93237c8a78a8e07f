/**
 * `node bench/web.ts` (`npm run bench:web`): what the chat costs a browser on first load. Debian's
 * chromium (or `BASTION_CHROMIUM`) loads the app from a real Bastion (web app, auth off, a scripted
 * backend so that no model load competes for the CPU) with an empty cache ("cold") and again with
 * the cache filled ("warm": the page is revalidated, every versioned asset comes from cache), side by
 * side, rounds alternating. Reports bytes transferred (bodies as sent, gzip, plus headers) and the
 * time from navigation start to the app's `bastion:usable` mark (first screen that takes input),
 * p50 and p95, with the ratio to cold; writes JSON to bench/results/.
 *
 * Options: --rounds (8).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { chromium, type Page } from "playwright-core";
import { createApp } from "../src/server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../src/server/testing/scripted-backend.ts";
import { startServer } from "../src/server/testing/start-server.ts";

const { values: flags } = parseArgs({ options: { rounds: { type: "string", default: "8" } } });
const rounds = Number(flags.rounds);
const chromiumPath = process.env.BASTION_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(chromiumPath)) {
  console.error(`No chromium at ${chromiumPath}; install Debian's chromium or set BASTION_CHROMIUM.`);
  process.exit(1);
}

const registry = createStaticRegistry([createScriptedBackend({ id: "chat-model" })]);
const server = await startServer(createApp({ registry }));
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});

/** Loads the app in `page` and returns bytes transferred and the in-page time to usable. */
async function load(page: Page, how: "goto" | "reload"): Promise<{ bytes: number; usableMs: number }> {
  let bytes = 0;
  const pending: Array<Promise<void>> = [];
  const onFinished = (request: import("playwright-core").Request) => {
    pending.push(
      request.sizes().then((sizes) => {
        bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      }),
    );
  };
  page.on("requestfinished", onFinished);
  if (how === "goto") await page.goto(server.url);
  else await page.reload();
  await page.locator("#composer-input").waitFor();
  await page.waitForLoadState("networkidle");
  await Promise.all(pending);
  page.off("requestfinished", onFinished);
  const usableMs = await page.evaluate(
    () => performance.getEntriesByName("bastion:usable")[0]?.startTime ?? Number.NaN,
  );
  return { bytes, usableMs };
}

const samples: Record<"cold" | "warm", Array<{ bytes: number; usableMs: number }>> = { cold: [], warm: [] };
for (let round = 0; round < rounds; round++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  samples.cold.push(await load(page, "goto"));
  samples.warm.push(await load(page, "reload"));
  await context.close();
}
await browser.close();
await server.close();

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const summary = Object.fromEntries(
  (Object.keys(samples) as Array<keyof typeof samples>).map((name) => {
    const list = samples[name];
    return [
      name,
      {
        kib:
          quantile(
            list.map((sample) => sample.bytes),
            0.5,
          ) / 1024,
        usableP50: quantile(
          list.map((sample) => sample.usableMs),
          0.5,
        ),
        usableP95: quantile(
          list.map((sample) => sample.usableMs),
          0.95,
        ),
      },
    ];
  }),
) as Record<"cold" | "warm", { kib: number; usableP50: number; usableP95: number }>;

console.log(`web app first load, ${rounds} rounds (chromium, loopback)\n`);
console.log("scenario  transferred KiB  usable p50 ms  usable p95 ms  p50 vs cold");
for (const [name, row] of Object.entries(summary)) {
  console.log(
    `${name.padEnd(8)}  ${row.kib.toFixed(1).padStart(15)}  ${row.usableP50.toFixed(0).padStart(13)}  ${row.usableP95
      .toFixed(0)
      .padStart(13)}  ${(row.usableP50 / summary.cold.usableP50).toFixed(2).padStart(11)}x`,
  );
}
console.log(
  `\nbudget: 300 KB gzipped on first load; cold is ${((summary.cold.kib * 1024) / 300_000).toFixed(2)}x of it`,
);

mkdirSync(new URL("results/", import.meta.url), { recursive: true });
const file = new URL(
  `results/web-${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}.json`,
  import.meta.url,
);
writeFileSync(
  file,
  `${JSON.stringify({ rounds, summary, samples, at: new Date().toISOString() }, null, 2)}\n`,
);
console.log(`\nwrote ${file.pathname}`);
