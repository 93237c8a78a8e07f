import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { describe, expect, it } from "vitest";
import type { CompletedRequest } from "../core/request-record.ts";
import type { RequestRecorder } from "../metering/request-recorder.ts";
import { recordRefusals } from "./record-refusals.ts";
import type { ServerEnv } from "./server-env.ts";

/** A recorder that keeps what it is given, and an app whose every request is refused with `status`. */
function setup(addresses: () => string) {
  const records: CompletedRequest[] = [];
  const unrecorded: number[] = [];
  const warnings: unknown[] = [];
  let clock = 0;
  const recorder = {
    async record(record: CompletedRequest) {
      records.push(record);
      return record;
    },
    onCompleted() {},
    addObserver() {},
  } as unknown as RequestRecorder;
  const app = new Hono<ServerEnv>();
  app.use(requestId());
  app.use(
    "*",
    recordRefusals(recorder, {
      anonymousPerMinute: 3,
      clientAddress: addresses,
      onUnrecorded: (count) => unrecorded.push(count),
      logger: { warn: (fields: unknown) => warnings.push(fields) } as never,
      now: () => clock,
    }),
  );
  app.get("/v1/models", (c) => c.json({ error: { message: "no key" } }, 401));
  return {
    records,
    unrecorded,
    warnings,
    advance(ms: number) {
      clock += ms;
    },
    refuse: () => app.request("/v1/models"),
  };
}

describe("recording refusals without a credential", () => {
  it("records at most the cap per address and minute, and reports the rest when the minute ends", async () => {
    let address = "192.0.2.1";
    const test = setup(() => address);
    for (let i = 0; i < 5; i++) expect((await test.refuse()).status).toBe(401);
    expect(test.records).toHaveLength(3);
    expect(
      test.records.every((record) => record.status === "blocked" && record.errorCode === "unauthorized"),
    ).toBe(true);
    // Another address has its own allowance.
    address = "192.0.2.2";
    await test.refuse();
    expect(test.records).toHaveLength(4);
    // A minute later the first address records again, and the two it lost are reported.
    address = "192.0.2.1";
    test.advance(60_000);
    await test.refuse();
    expect(test.records).toHaveLength(5);
    expect(test.unrecorded).toEqual([2]);
    expect(test.warnings).toEqual([{ unrecorded: 2 }]);
  });
});
