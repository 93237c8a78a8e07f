import type { Kysely } from "kysely";
import { BastionError } from "../core/errors.ts";
import type { Database } from "../store/schema.ts";
import { parseJson } from "./ids.ts";

/** A 404 for a document object; another tenant's object answers exactly as a missing one. */
export function notFound(kind: string, id: string): BastionError {
  return new BastionError("not_found", `No ${kind} found with id '${id.slice(0, 100)}'.`, {
    param: kind === "file" ? "file_id" : null,
  });
}

/** The file columns the API shows: everything but the stored bytes and their parse. */
export const fileColumns = [
  "id",
  "tenant_id",
  "filename",
  "purpose",
  "bytes",
  "content_hash",
  "mime",
  "created_at",
  "status",
  "status_details",
  "pages",
  "personal_data",
] as const;

/** The tenant's file row, with its content and parse; 404 when absent. */
export async function findFileRow(db: Kysely<Database>, tenantId: string, fileId: string) {
  const row = await db
    .selectFrom("document_files")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", fileId)
    .executeTakeFirst();
  if (row === undefined) throw notFound("file", fileId);
  return row;
}

/** The tenant's vector store row; 404 when absent. */
export async function findStoreRow(db: Kysely<Database>, tenantId: string, id: string) {
  const row = await db
    .selectFrom("vector_stores")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (row === undefined) throw notFound("vector store", id);
  return row;
}

/** The tenant's membership row of a file in a vector store; 404 (as a file) when absent. */
export async function findVectorStoreFileRow(
  db: Kysely<Database>,
  tenantId: string,
  vectorStoreId: string,
  fileId: string,
) {
  const row = await db
    .selectFrom("vector_store_files")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("vector_store_id", "=", vectorStoreId)
    .where("file_id", "=", fileId)
    .executeTakeFirst();
  if (row === undefined) throw notFound("file", fileId);
  return row;
}

/** The file ids a batch was created with (the batch must exist: check it first). */
export async function batchFileIds(db: Kysely<Database>, batchId: string): Promise<string[]> {
  const row = await db
    .selectFrom("vector_store_file_batches")
    .select("file_ids")
    .where("id", "=", batchId)
    .executeTakeFirstOrThrow();
  return parseJson<string[]>(row.file_ids, []);
}
