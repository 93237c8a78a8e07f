import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { openAuditLog } from "../../audit/index.ts";
import { configSchema } from "../../config/config.ts";
import type { Principal } from "../../core/principal.ts";
import { testDatabases } from "../../store/test-databases.ts";
import type { ServerEnv } from "../server-env.ts";
import { auditExportLines, registerAuditExportRoute } from "./audit-export.ts";

describe.each(testDatabases())("audit export on $name", ({ open }) => {
  it("reads the chain page by page, in order, and streams it over HTTP as JSON lines", async () => {
    const store = await open();
    const dataDir = mkdtempSync(join(tmpdir(), "bastion-audit-export-"));
    try {
      const log = openAuditLog({ config: configSchema.parse({}).audit, store, dataDir });
      for (let index = 0; index < 7; index++)
        await log.appendEvent({ action: "test.event", details: { index } });
      await log.close();
      const read = async (pageSize: number) => {
        const lines: string[] = [];
        for await (const line of auditExportLines(store.db, pageSize)) lines.push(line);
        return lines;
      };
      const whole = await read(1000);
      // 7 records, then the checkpoint that close() signed.
      expect(whole).toHaveLength(8);
      expect(whole.slice(0, 7).map((line) => (JSON.parse(line) as { seq: number }).seq)).toEqual([
        1, 2, 3, 4, 5, 6, 7,
      ]);
      expect(JSON.parse(whole[7]!)).toMatchObject({ checkpoint: { size: 7 } });
      expect(await read(2)).toEqual(whole);

      const app = new Hono<ServerEnv>();
      let principal: Principal = { tenantId: "default", roles: ["auditor"] };
      app.use(async (c, next) => {
        c.set("principal", principal);
        await next();
      });
      registerAuditExportRoute(app, { store, authEnabled: true, pageSize: 3 });
      app.onError((error, c) => c.json({ error: String(error) }, 403));
      const response = await app.request("/admin/v1/audit/export");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
      expect(await response.text()).toBe(`${whole.join("\n")}\n`);
      principal = { tenantId: "acme", roles: ["admin"] };
      expect((await app.request("/admin/v1/audit/export")).status).toBe(403);
    } finally {
      await store.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
