import { createHash } from "node:crypto";
import { BastionError } from "../core/errors.ts";
import type { DocumentContext } from "./document-context.ts";
import type { DocumentService } from "./document-service.ts";
import { DocumentError } from "./errors.ts";
import { newId, nowSeconds } from "./ids.ts";
import { paginate } from "./pagination.ts";
import { detectFormat, mimeTypes, parseDocument } from "./parse/parse-document.ts";
import type { ParsedDocument } from "./parse/parsed-document.ts";
import { fileColumns, findFileRow, notFound } from "./rows.ts";
import { toFileObject } from "./wire.ts";

export type FileOperations = Pick<
  DocumentService,
  "createFile" | "listFiles" | "getFile" | "fileContent" | "deleteFile"
>;

const storedParse = (document: ParsedDocument) => JSON.stringify(document);

/**
 * Uploaded files: parsed (and checked for personal data) once at upload, kept with their bytes;
 * erasing one takes its chunks out of every vector store.
 */
export function createFileOperations(context: DocumentContext): FileOperations {
  const { db, index, config, policy, eraseFromStores } = context;
  const fileRow = (tenantId: string, fileId: string) => findFileRow(db, tenantId, fileId);

  const files: FileOperations = {
    async createFile(tenantId, input) {
      if (input.purpose !== "assistants" && input.purpose !== "user_data")
        throw new BastionError("invalid_request", "'purpose' must be 'assistants' or 'user_data'.", {
          param: "purpose",
        });
      const filename = input.filename.trim() === "" ? "upload" : input.filename.slice(0, 255);
      const content = input.content;
      let status = "processed";
      let details: string | null = null;
      let parsed: string | null = null;
      let pages: number | null = null;
      let mime = "application/octet-stream";
      let personal: Record<string, number> = {};
      try {
        mime = mimeTypes[detectFormat(filename, content)];
        if (content.length > config.maxFileBytes)
          throw new DocumentError(
            "too_large",
            `The file is ${content.length} bytes; documents.maxFileBytes allows ${config.maxFileBytes}. Split it, or raise the limit.`,
          );
        const document = await parseDocument(filename, content);
        if (document.text.length > config.maxTextChars)
          throw new DocumentError(
            "too_large",
            `The file holds ${document.text.length} characters of text; documents.maxTextChars allows ${config.maxTextChars}. Split it.`,
          );
        pages = document.pages;
        if (policy !== undefined) {
          try {
            personal = policy.inspectText(document.text).counts;
          } catch (error) {
            throw new DocumentError(
              "invalid_file",
              `Personal-data detection failed (${(error as Error).message}); the file is not indexed.`,
            );
          }
        }
        parsed = storedParse(document);
      } catch (error) {
        if (!(error instanceof DocumentError)) throw error;
        status = "error";
        details = error.message;
        parsed = null;
      }
      const id = newId("file-");
      await db
        .insertInto("document_files")
        .values({
          id,
          tenant_id: tenantId,
          filename,
          purpose: input.purpose,
          bytes: content.length,
          content_hash: createHash("sha256").update(content).digest("hex"),
          mime,
          created_at: nowSeconds(),
          status,
          status_details: details,
          content: Buffer.from(content),
          parsed,
          pages,
          personal_data: JSON.stringify(personal),
        })
        .execute();
      return files.getFile(tenantId, id);
    },

    async listFiles(tenantId, params) {
      let query = db.selectFrom("document_files").select(fileColumns).where("tenant_id", "=", tenantId);
      if (params.purpose !== undefined) query = query.where("purpose", "=", params.purpose);
      const rows = await query.orderBy("created_at").orderBy("id").execute();
      return paginate(rows.map(toFileObject), params, 10_000);
    },

    async getFile(tenantId, fileId) {
      const row = await db
        .selectFrom("document_files")
        .select(fileColumns)
        .where("tenant_id", "=", tenantId)
        .where("id", "=", fileId)
        .executeTakeFirst();
      if (row === undefined) throw notFound("file", fileId);
      return toFileObject(row);
    },

    async fileContent(tenantId, fileId) {
      const row = await fileRow(tenantId, fileId);
      return { filename: row.filename, mime: row.mime, content: new Uint8Array(row.content) };
    },

    async deleteFile(tenantId, fileId) {
      await fileRow(tenantId, fileId);
      const memberships = await db
        .selectFrom("vector_store_files")
        .select("vector_store_id")
        .where("file_id", "=", fileId)
        .where("tenant_id", "=", tenantId)
        .execute();
      const storeIds = memberships.map((row) => row.vector_store_id);
      eraseFromStores(fileId, storeIds);
      await db.transaction().execute(async (trx) => {
        for (const vectorStoreId of storeIds) await index.removeFile(trx, vectorStoreId, fileId);
        await trx
          .deleteFrom("vector_store_files")
          .where("file_id", "=", fileId)
          .where("tenant_id", "=", tenantId)
          .execute();
        await trx
          .deleteFrom("document_files")
          .where("id", "=", fileId)
          .where("tenant_id", "=", tenantId)
          .execute();
      });
      return { id: fileId, object: "file", deleted: true };
    },
  };
  return files;
}
