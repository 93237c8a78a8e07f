import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, pruneAuditLog } from "../src/audit/index.ts";
import {
  type CliFixture,
  cliDatabases,
  type MeteredServer,
  openCliFixture,
  startMeteredServer,
} from "../src/cli/cli-test-fixture.ts";
import { formatAmount, usageTable } from "../src/cli/usage.ts";
import { configSchema } from "../src/config/config.ts";
import type { MeteringServices } from "../src/metering/services.ts";
import type { RunningServer } from "../src/server/testing/start-server.ts";
import type { Store } from "../src/store/database.ts";

/*
 * Gaps a new user met in the control plane's CLI (audit of issue 8 on a clean clone), one test each:
 * a bad --expires ended the command without a word; `audit verify` passed a log whose newest
 * records were deleted together with their checkpoints, and could not use the export the README
 * says to keep; two instances on one database failed verification with no hint why; `audit
 * public-key` had no --url; `usage` and `audit` took no --api-key; the usage table printed every
 * local cost as 0.0000.
 */

describe.each(cliDatabases())("control-plane CLI on $name", (database) => {
  let fixture: CliFixture;
  let dataDir: string;
  let store: Store;
  let databaseUrl: string;
  const bastion: CliFixture["bastion"] = (args, env) => fixture.bastion(args, env);

  beforeAll(async () => {
    fixture = await openCliFixture(database, "bastion-cp-cli-");
    ({ dataDir, store, databaseUrl } = fixture);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("says what is wrong with --expires instead of exiting silently", async () => {
    for (const args of [
      ["keys", "create", "ci", "--expires", "90x"],
      ["keys", "update", "key_0", "--expires", "soon"],
    ]) {
      const result = await bastion(args);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/--expires takes 30d, 12h, 90m, an ISO date or "never"/);
    }
    // One output format at a time (--json used to win silently over --csv).
    const both = await bastion(["usage", "--json", "--csv"]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/option '--csv' cannot be used with option '--json'/);
    // Nothing was created by the refused command.
    const listed = await bastion(["keys", "list", "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  it("detects records deleted together with their checkpoints, given an earlier export as witness", async () => {
    for (const id of ["t1", "t2", "t3"]) expect((await bastion(["tenants", "create", id])).code).toBe(0);
    const witnessFile = join(dataDir, "witness.jsonl");
    expect((await bastion(["audit", "export", "-o", witnessFile])).code).toBe(0);
    const intact = await bastion(["audit", "verify", "--witness", witnessFile]);
    expect(intact.stderr).toBe("");
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(
      /witness OK: the log matches the [1-9]\d* signed checkpoints of .*witness\.jsonl\n/,
    );

    // Truncate as an intruder with database access would: the newest records and every checkpoint covering them.
    const head = Number(
      (
        await store.db
          .selectFrom("audit_log")
          .select((eb) => eb.fn.max("seq").as("seq"))
          .executeTakeFirstOrThrow()
      ).seq,
    );
    await store.db
      .deleteFrom("audit_log")
      .where("seq", ">", head - 2)
      .execute();
    await store.db
      .deleteFrom("audit_checkpoints")
      .where("size", ">", head - 2)
      .execute();

    // The log alone cannot tell (this is why the README says to keep the export elsewhere)...
    expect((await bastion(["audit", "verify"])).code).toBe(0);
    // ...the witness can, and names the first missing record.
    const truncated = await bastion(["audit", "verify", "--witness", witnessFile]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toContain(
      `audit log FAILED at record ${head - 1}: the log ends at record ${head - 2} but the witness holds a signed checkpoint covering ${head - 1} records`,
    );

    const noCheckpoints = join(dataDir, "records-only.jsonl");
    writeFileSync(noCheckpoints, '{"seq":1}\n');
    const useless = await bastion(["audit", "verify", "--witness", noCheckpoints]);
    expect(useless.code).not.toBe(0);
    expect(useless.stderr).toMatch(/holds no signed checkpoint/);
  });

  it("accepts a witness whose older checkpoints retention has pruned from the log", async () => {
    for (const id of ["t4", "t5", "t6"]) expect((await bastion(["tenants", "create", id])).code).toBe(0);
    const witnessFile = join(dataDir, "before-retention.jsonl");
    expect((await bastion(["audit", "export", "-o", witnessFile])).code).toBe(0);
    // Everything is older than tomorrow: retention keeps only what follows its newest anchor.
    expect(await pruneAuditLog(store, new Date(Date.now() + 86_400_000))).toBeGreaterThan(0);
    const result = await bastion(["audit", "verify", "--witness", witnessFile]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /\(\d+ older ones fall before the oldest kept record: pruned by retention\)/,
    );
  });

  describe("with a running server", () => {
    let running: MeteredServer;
    let server: RunningServer;
    let metering: MeteringServices;
    let adminKey: string;

    beforeAll(async () => {
      running = await startMeteredServer(store, dataDir);
      ({ server, metering, adminKey } = running);
      await running.chat();
      await metering.audit?.checkpoint();
    });
    afterAll(async () => {
      await running?.close();
    });

    it("prints the server's public key with --url, and takes --api-key on usage and audit", async () => {
      const local = await bastion(["audit", "public-key"]);
      expect(local.code).toBe(0);
      expect(local.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const remote = await bastion(["audit", "public-key", "--url", server.url, "--api-key", adminKey]);
      expect(remote.stderr).toBe("");
      expect(remote.stdout).toBe(local.stdout);

      const withoutKey = await bastion(["usage", "--url", server.url]);
      expect(withoutKey.code).not.toBe(0);
      expect(withoutKey.stderr).toMatch(/401 .*pass --api-key or set BASTION_API_KEY/);
      const usage = await bastion(["usage", "--url", server.url, "--api-key", adminKey, "--json"]);
      expect(usage.stderr).toBe("");
      const rows = (JSON.parse(usage.stdout) as { data: Array<{ requests: number }> }).data;
      expect(rows.reduce((sum, row) => sum + row.requests, 0)).toBeGreaterThanOrEqual(2);
      const exported = await bastion(["audit", "export", "--url", server.url, "--api-key", adminKey]);
      expect(exported.code).toBe(0);
      expect(exported.stdout).toContain('"kind":"request"');
      const verified = await bastion(["audit", "verify", "--url", server.url, "--api-key", adminKey]);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(/^audit log OK/);
    });

    it("says how to trust another instance's signing key when two share the database", async () => {
      // A second instance: same database, its own data directory, so its own audit-key.pem.
      const otherDir = mkdtempSync(join(tmpdir(), "bastion-cp-cli-other-"));
      try {
        const other = openAuditLog({ config: configSchema.parse({}).audit, store, dataDir: otherDir });
        await other.appendEvent({ action: "tenant.updated", tenantId: "default" });
        await other.checkpoint();
        await other.close();

        const untrusted = await bastion(["audit", "verify"]);
        expect(untrusted.code).toBe(1);
        expect(untrusted.stderr).toMatch(/no signature by a trusted key\n/);
        expect(untrusted.stderr).not.toMatch(/records verified before it/);
        expect(untrusted.stderr).toMatch(
          /several instances share this database.*audit\.keyFile.*--public-key/s,
        );

        const publicKey = join(otherDir, "other.pub");
        writeFileSync(
          publicKey,
          (await bastion(["audit", "public-key"], { BASTION_DATA_DIR: otherDir, DATABASE_URL: databaseUrl }))
            .stdout,
        );
        const trusted = await bastion(["audit", "verify", "--public-key", publicKey]);
        expect(trusted.stderr).toBe("");
        expect(trusted.code).toBe(0);
      } finally {
        rmSync(otherDir, { recursive: true, force: true });
      }
    });
  });
});

describe("bastion usage table", () => {
  it("keeps three significant digits of a cost too small for four decimals", () => {
    expect(formatAmount(0.000006129, 4)).toBe("0.00000613");
    expect(formatAmount(0.000123456, 4)).toBe("0.000123");
    expect(formatAmount(0.0015, 4)).toBe("0.00150");
    expect(formatAmount(0.0226, 3)).toBe("0.0226");
    expect(formatAmount(12.3456, 4)).toBe("12.3456");
    expect(formatAmount(0, 4)).toBe("0.0000");
    expect(formatAmount(0.0004, 3)).toBe("0.000400");
    const row = {
      model: "local",
      requests: 24,
      input_tokens: 108,
      output_tokens: 135,
      reasoning_tokens: 0,
      cached_tokens: 68,
      cost_eur: 0.000022377,
      energy_wh: 0.0226,
      co2e_g: 0.0055,
      reference_cost_eur: 0.0014904,
      saved_eur: 0.001468,
    };
    const [, line] = usageTable([row], ["model"]).split("\n");
    expect(line).toMatch(/\s0\.0000224\s/);
    expect(line).not.toMatch(/\s0\.0000\s/);
  });
});
