import type { Hono } from "hono";
import { auditLogRows, toAuditRecordLine } from "../../audit/index.ts";
import { BastionError } from "../../core/errors.ts";
import type { Store } from "../../store/database.ts";
import type { ServerEnv } from "../server-env.ts";
import { meteringReader } from "./metering-access.ts";

/** Records read per query while exporting: what is held in memory at once. */
const exportPageSize = 1000;

/**
 * The audit log as `bastion audit export` writes it: one JSON line per record (with its hash and
 * the exact hashed body), in sequence order, then one per signed checkpoint. Records are read a
 * page at a time, so a long log is never held in memory whole.
 */
export async function* auditExportLines(db: Store["db"], pageSize = exportPageSize): AsyncGenerator<string> {
  for await (const row of auditLogRows(db, pageSize)) yield JSON.stringify(toAuditRecordLine(row));
  const checkpoints = await db.selectFrom("audit_checkpoints").selectAll().orderBy("size", "asc").execute();
  for (const checkpoint of checkpoints)
    yield JSON.stringify({
      checkpoint: { size: Number(checkpoint.size), created_at: checkpoint.created_at, note: checkpoint.note },
    });
}

/**
 * `GET /admin/v1/audit/export`: the whole chain as JSON lines (`application/x-ndjson`), streamed
 * as it is read. For admins and auditors of the platform (default) tenant only: the chain holds
 * every tenant's records, and a verifier needs all of them, so it cannot be cut to one tenant.
 */
export function registerAuditExportRoute(
  app: Hono<ServerEnv>,
  options: { store: Store; authEnabled: boolean; pageSize?: number },
): void {
  app.get("/admin/v1/audit/export", (c) => {
    const { principal } = meteringReader(c, options.authEnabled);
    if (principal.tenantId !== "default")
      throw new BastionError(
        "forbidden",
        "The audit export holds every tenant's records: it needs an admin or auditor of the default tenant. Use GET /admin/v1/audit for your tenant's records.",
      );
    const lines = auditExportLines(options.store.db, options.pageSize)[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      // Pulled as the client reads: a slow reader holds back the queries instead of filling memory.
      async pull(controller) {
        try {
          // A chunk of about 64 KiB per pull rather than a write per record.
          let chunk = "";
          while (chunk.length < 65_536) {
            const next = await lines.next();
            if (next.done === true) {
              if (chunk !== "") controller.enqueue(encoder.encode(chunk));
              controller.close();
              return;
            }
            chunk += `${next.value}\n`;
          }
          controller.enqueue(encoder.encode(chunk));
        } catch (error) {
          // Headers are gone: a cut-off stream is what tells the client (the CLI exits non-zero).
          c.get("logger")?.error({ err: error }, "audit export failed");
          controller.error(error);
        }
      },
      async cancel() {
        await lines.return?.(undefined);
      },
    });
    return c.body(body, 200, { "content-type": "application/x-ndjson; charset=utf-8" });
  });
}
