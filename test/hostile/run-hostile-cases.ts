import { type HostileCase, hostileCases } from "./cases.ts";

export interface HostileResult {
  name: string;
  status: number;
  /** What was wrong with the answer; empty when it was right. */
  problems: string[];
}

export interface HostileRun {
  results: HostileResult[];
  /** Status of a plain chat completion sent after all the cases: the server must still serve. */
  followUpStatus: number;
}

export interface RunHostileOptions {
  /** A model the server can serve; bodies that need one use it. */
  validModel: string;
  cases?: HostileCase[];
}

/**
 * Sends every hostile case to a running server and checks status and OpenAI error shape; after each
 * case it checks `/health`, and at the end that a normal request still succeeds. Framework-free, so
 * the same cases run against the scripted backend and the real engine.
 */
export async function runHostileCases(baseUrl: string, options: RunHostileOptions): Promise<HostileRun> {
  const results: HostileResult[] = [];
  for (const hostile of options.cases ?? hostileCases) {
    results.push(await runCase(baseUrl, hostile, options.validModel));
  }
  const followUp = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: options.validModel,
      max_tokens: 4,
      messages: [{ role: "user", content: "Hello" }],
    }),
  });
  await followUp.arrayBuffer();
  return { results, followUpStatus: followUp.status };
}

async function runCase(baseUrl: string, hostile: HostileCase, model: string): Promise<HostileResult> {
  const problems: string[] = [];
  const rawBody = typeof hostile.body === "function" ? hostile.body(model) : hostile.body;
  const bytes =
    rawBody === undefined
      ? undefined
      : typeof rawBody === "string"
        ? rawBody
        : rawBody instanceof Uint8Array
          ? rawBody
          : JSON.stringify(rawBody);
  const init: RequestInit & { duplex?: "half" } = { method: hostile.method, headers: hostile.headers ?? {} };
  if (bytes !== undefined) {
    if (hostile.chunked === true) {
      const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
      init.body = new ReadableStream({
        start(controller) {
          for (let offset = 0; offset < data.length; offset += 64 * 1024) {
            controller.enqueue(data.subarray(offset, offset + 64 * 1024));
          }
          controller.close();
        },
      });
      init.duplex = "half";
    } else {
      // A fresh ArrayBuffer-backed copy: fetch's types refuse views over a SharedArrayBuffer.
      init.body = typeof bytes === "string" ? bytes : new Uint8Array(bytes);
    }
  }

  let status = 0;
  try {
    const response = await fetch(`${baseUrl}${hostile.path}`, init);
    status = response.status;
    const text = await response.text();
    const expected = Array.isArray(hostile.expectStatus) ? hostile.expectStatus : [hostile.expectStatus];
    if (!expected.includes(status))
      problems.push(`status ${status}, expected ${expected.join(" or ")}: ${text.slice(0, 300)}`);
    checkBody(hostile, status, text, problems);
  } catch (error) {
    problems.push(`request failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  try {
    const health = await fetch(`${baseUrl}/health`);
    if (health.status !== 200) problems.push(`/health answered ${health.status} afterwards`);
    await health.arrayBuffer();
  } catch (error) {
    problems.push(`/health failed afterwards: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { name: hostile.name, status, problems };
}

function checkBody(hostile: HostileCase, status: number, text: string, problems: string[]): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push(`body is not JSON: ${text.slice(0, 200)}`);
    return;
  }
  if (status < 400) {
    if (hostile.method === "POST" && hostile.path === "/v1/chat/completions") {
      const completion = body as { object?: unknown; choices?: unknown };
      if (completion.object !== "chat.completion" || !Array.isArray(completion.choices)) {
        problems.push("a 2xx chat answer is not a chat.completion");
      }
    }
    return;
  }
  const error = (body as { error?: Record<string, unknown> }).error;
  const shapeOk =
    typeof error === "object" &&
    error !== null &&
    typeof error.message === "string" &&
    typeof error.type === "string" &&
    typeof error.code === "string" &&
    (error.param === null || typeof error.param === "string") &&
    Object.keys(body as object).length === 1;
  if (!shapeOk) {
    problems.push(`not the OpenAI error shape: ${text.slice(0, 300)}`);
    return;
  }
  // A tolerated case that a real model refuses (e.g. context overflow) needs no code or param check.
  const expectsError = (
    Array.isArray(hostile.expectStatus) ? hostile.expectStatus : [hostile.expectStatus]
  ).some((expected) => expected >= 400);
  if (!expectsError) return;
  if (hostile.expectCode !== undefined && error.code !== hostile.expectCode) {
    problems.push(`code ${String(error.code)}, expected ${hostile.expectCode}: ${String(error.message)}`);
  }
  if (hostile.expectParam !== undefined && error.param !== hostile.expectParam) {
    problems.push(
      `param ${String(error.param)}, expected ${String(hostile.expectParam)}: ${String(error.message)}`,
    );
  }
  if (typeof error.message === "string" && /\n\s+at /.test(error.message)) {
    problems.push("the message holds a stack trace");
  }
}
