import { parseArgs } from "node:util";
import type { ChatStreamPart } from "../../src/core/chat.ts";

/**
 * What the control-plane benchmarks (`bench:auth`, `bench:metering`) share: their flags, the
 * scripted answer (no llama.cpp, so the overhead is not hidden behind generation), and the
 * closed-loop load with alternating rounds, so machine drift hits every variant alike.
 */
export function scriptedLoadFlags() {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", default: "8" },
      requests: { type: "string", default: "400" },
      rounds: { type: "string", default: "4" },
      "delay-ms": { type: "string", default: "0" },
    },
  });
  return {
    concurrency: Number(values.concurrency),
    perRound: Number(values.requests),
    rounds: Number(values.rounds),
    delayMs: Number(values["delay-ms"]),
  };
}

/** A short answer after `delayMs`, with usage (and timings when asked, for the cost model). */
export function scriptedAnswer(delayMs: number, withTimings = false) {
  return async function* script(): AsyncIterable<ChatStreamPart> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield { type: "text-delta", text: "Bonjour" };
    yield {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 20, completionTokens: 8, reasoningTokens: 0, cachedPromptTokens: 0 },
      ...(withTimings ? { timings: { queueMs: 0, promptMs: 1, generationMs: Math.max(1, delayMs) } } : {}),
    };
  };
}

export interface LoadTotals {
  seconds: number;
  cpuMs: number;
  latencies: number[];
}

/**
 * One warm-up round per variant, then `rounds` rounds of `perRound` chat requests at
 * `concurrency`, the variants' order reversed every other round.
 */
export async function runAlternating<Name extends string>(
  variants: Record<Name, { url: string; key?: string | undefined }>,
  options: { concurrency: number; perRound: number; rounds: number },
): Promise<Record<Name, LoadTotals>> {
  const names = Object.keys(variants) as Name[];
  const body = JSON.stringify({
    model: "m",
    messages: [{ role: "user", content: "Bonjour" }],
    max_tokens: 8,
  });
  const round = async (name: Name): Promise<LoadTotals> => {
    const { url, key } = variants[name];
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    const latencies: number[] = [];
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next++ < options.perRound) {
          const t0 = performance.now();
          const response = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers, body });
          if (response.status !== 200)
            throw new Error(`${name}: HTTP ${response.status} ${await response.text()}`);
          await response.arrayBuffer();
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    return {
      seconds: (performance.now() - started) / 1000,
      cpuMs: (used.user + used.system) / 1000,
      latencies,
    };
  };
  for (const name of names) await round(name); // warm-up, not counted
  const totals = Object.fromEntries(
    names.map((name) => [name, { seconds: 0, cpuMs: 0, latencies: [] as number[] }]),
  ) as Record<Name, LoadTotals>;
  for (let index = 0; index < options.rounds; index++) {
    for (const name of index % 2 === 0 ? names : [...names].reverse()) {
      const result = await round(name);
      totals[name].seconds += result.seconds;
      totals[name].cpuMs += result.cpuMs;
      totals[name].latencies.push(...result.latencies);
    }
  }
  return totals;
}

export const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};
