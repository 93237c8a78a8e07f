import { userInfo } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousPrincipal } from "../core/principal.ts";
import type { MeteringServices } from "../metering/services.ts";
import type { RunningServer } from "../server/testing/start-server.ts";
import type { Store } from "../store/database.ts";
import { localOperator } from "./admin-client.ts";
import {
  type CliFixture,
  cliDatabases,
  type MeteredServer,
  openCliFixture,
  startMeteredServer,
} from "./cli-test-fixture.ts";

interface ExportLine {
  seq?: number;
  kind?: string;
  body?: string;
  checkpoint?: { size: number };
}

describe.each(cliDatabases())("audit from the CLI on $name", (database) => {
  let fixture: CliFixture;
  let dataDir: string;
  let store: Store;
  const bastion: CliFixture["bastion"] = (args, env) => fixture.bastion(args, env);

  const exported = (stdout: string): ExportLine[] =>
    stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as ExportLine);

  beforeAll(async () => {
    fixture = await openCliFixture(database, "bastion-audit-cli-");
    ({ dataDir, store } = fixture);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("records admin changes made on the data directory, as the operator, and the chain verifies", async () => {
    expect((await bastion(["tenants", "create", "acme", "--name", "ACME"])).code).toBe(0);
    expect(
      (await bastion(["tenants", "update", "acme", "--policy", "eu-strict", "--budget-hard", "20"])).code,
    ).toBe(0);
    const key = await bastion(["keys", "create", "ci", "--tenant", "acme", "--json"]);
    expect(key.code).toBe(0);
    const keyId = (JSON.parse(key.stdout) as { id: string }).id;
    expect((await bastion(["keys", "revoke", keyId])).code).toBe(0);
    // A refused change is not a change: nothing is recorded for it.
    expect((await bastion(["tenants", "create", "Bad Id"])).code).not.toBe(0);

    const verified = await bastion(["audit", "verify"]);
    expect(verified.stderr).toBe("");
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^audit log OK: \d+ records, [1-9]\d* signed checkpoints/);

    const lines = exported((await bastion(["audit", "export"])).stdout);
    const events = lines
      .filter((line) => line.kind === "admin")
      .map((line) => JSON.parse(line.body!) as Record<string, unknown>);
    const operator = `cli:${userInfo().username}`;
    expect(localOperator()).toBe(operator);
    expect(events.map((event) => [event.action, event.target, event.tenant])).toEqual([
      ["tenant.created", { type: "tenant", id: "acme" }, "acme"],
      ["tenant.updated", { type: "tenant", id: "acme" }, "acme"],
      ["key.created", { type: "key", id: keyId }, "acme"],
      ["key.revoked", { type: "key", id: keyId }, "acme"],
    ]);
    for (const event of events) expect(event.details).toEqual({ operator });
    // Each command signed what it appended: the newest checkpoint covers every record.
    const newest = lines.filter((line) => line.checkpoint !== undefined).at(-1);
    expect(newest?.checkpoint?.size).toBe(lines.filter((line) => line.seq !== undefined).length);
  });

  describe("export --url", () => {
    let running: MeteredServer;
    let server: RunningServer;
    let metering: MeteringServices;
    let adminKey: string;
    let memberKey: string;
    let tenantAdminKey: string;

    beforeAll(async () => {
      running = await startMeteredServer(store, dataDir);
      ({ server, metering, adminKey } = running);
      const { admin } = running.auth;
      memberKey = (await admin.createKey(anonymousPrincipal, { name: "m", roles: ["member"] })).secret;
      await admin.createTenant(anonymousPrincipal, { id: "beta", name: "Beta" });
      tenantAdminKey = (
        await admin.createKey(anonymousPrincipal, { name: "b", tenant_id: "beta", roles: ["admin"] })
      ).secret;
      // Requests add request records to the chain beside the admin ones.
      await running.chat(3);
      await metering.audit?.checkpoint();
    });
    afterAll(async () => {
      await running?.close();
    });

    it("streams the running server's log, line for line what the local export writes", async () => {
      const remote = await bastion(["audit", "export", "--url", `${server.url}/v1`], {
        BASTION_API_KEY: adminKey,
      });
      expect(remote.stderr).toBe("");
      expect(remote.code).toBe(0);
      const local = await bastion(["audit", "export"]);
      expect(remote.stdout).toBe(local.stdout);
      const lines = exported(remote.stdout);
      expect(lines.filter((line) => line.kind === "request")).toHaveLength(3);
      expect(lines.at(-1)?.checkpoint?.size).toBe(lines.filter((line) => line.seq !== undefined).length);
      expect(lines.filter((line) => line.seq !== undefined).map((line) => line.seq)).toEqual(
        lines.filter((line) => line.seq !== undefined).map((_, index) => index + 1),
      );
    });

    it("needs an admin or auditor key of the default tenant", async () => {
      const none = await bastion(["audit", "export", "--url", server.url]);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/401/);
      const member = await bastion(["audit", "export", "--url", server.url], { BASTION_API_KEY: memberKey });
      expect(member.code).not.toBe(0);
      expect(member.stderr).toMatch(/403 .*admin or auditor/);
      const tenantAdmin = await fetch(`${server.url}/admin/v1/audit/export`, {
        headers: { authorization: `Bearer ${tenantAdminKey}` },
      });
      expect(tenantAdmin.status).toBe(403);
      expect(((await tenantAdmin.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    });
  });
});
