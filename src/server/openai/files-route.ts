import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BastionError } from "../../core/errors.ts";
import type { DocumentService } from "../../documents/document-service.ts";
import type { ServerEnv } from "../server-env.ts";
import { listParams, tenantOf } from "./vector-stores-route.ts";

/**
 * `/v1/files`: multipart upload (purpose `assistants` or `user_data`), list, get, delete (which
 * erases the file from every vector store) and `/content`.
 */
export function registerFilesRoutes(
  app: Hono<ServerEnv>,
  documents: DocumentService,
  maxUploadBytes: number,
): void {
  app.post(
    "/v1/files",
    bodyLimit({
      maxSize: maxUploadBytes,
      onError: () => {
        throw new BastionError(
          "payload_too_large",
          `The upload exceeds documents.maxUploadBytes (${maxUploadBytes} bytes).`,
        );
      },
    }),
    async (c) => {
      const type = (c.req.header("content-type") ?? "").toLowerCase();
      if (!type.startsWith("multipart/form-data"))
        throw new BastionError(
          "unsupported_media_type",
          "Upload files as multipart/form-data with fields 'file' and 'purpose'.",
        );
      let form: Record<string, string | File | (string | File)[]>;
      try {
        form = await c.req.parseBody();
      } catch (error) {
        if (error instanceof BastionError) throw error;
        throw new BastionError(
          "invalid_request",
          "The multipart body cannot be read; send fields 'file' and 'purpose'.",
        );
      }
      const file = form.file;
      if (!(file instanceof File))
        throw new BastionError("invalid_request", "Missing required parameter: 'file' (a file part).", {
          param: "file",
        });
      const purpose = form.purpose;
      if (typeof purpose !== "string")
        throw new BastionError("invalid_request", "Missing required parameter: 'purpose'.", {
          param: "purpose",
        });
      const created = await documents.createFile(tenantOf(c), {
        filename: file.name,
        purpose,
        content: new Uint8Array(await file.arrayBuffer()),
      });
      return c.json(created);
    },
  );
  app.get("/v1/files", async (c) => {
    const purpose = c.req.query("purpose");
    return c.json(
      await documents.listFiles(tenantOf(c), {
        ...listParams(c, 10_000),
        ...(purpose === undefined ? {} : { purpose }),
      }),
    );
  });
  app.get("/v1/files/:id", async (c) => c.json(await documents.getFile(tenantOf(c), c.req.param("id"))));
  app.delete("/v1/files/:id", async (c) =>
    c.json(await documents.deleteFile(tenantOf(c), c.req.param("id"))),
  );
  app.get("/v1/files/:id/content", async (c) => {
    const file = await documents.fileContent(tenantOf(c), c.req.param("id"));
    return new Response(Buffer.from(file.content), {
      headers: {
        "content-type": file.mime,
        "content-disposition": `attachment; filename="${file.filename.replace(/["\\\r\n]/g, "_")}"`,
      },
    });
  });
}
