import type { Context, Hono } from "hono";
import { z } from "zod";
import { BastionError } from "../../core/errors.ts";
import type { ChunkingStrategy, DocumentService } from "../../documents/document-service.ts";
import { attributesSchema, filterSchema } from "../../documents/filters.ts";
import type { ListParams } from "../../documents/pagination.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";

/** The tenant a request acts for: the principal's, or "default" while auth is off. */
export function tenantOf(c: Context<ServerEnv>): string {
  return c.get("principal")?.tenantId ?? "default";
}

/** `limit`, `order`, `after`, `before` from the query string, checked. */
export function listParams(c: Context<ServerEnv>, maxLimit = 100): ListParams {
  const params: ListParams = {};
  const limit = c.req.query("limit");
  if (limit !== undefined) {
    const value = Number(limit);
    if (!Number.isInteger(value) || value < 1 || value > maxLimit)
      throw new BastionError("invalid_request", `'limit' must be a whole number from 1 to ${maxLimit}.`, {
        param: "limit",
      });
    params.limit = value;
  }
  const order = c.req.query("order");
  if (order !== undefined) {
    if (order !== "asc" && order !== "desc")
      throw new BastionError("invalid_request", "'order' must be 'asc' or 'desc'.", { param: "order" });
    params.order = order;
  }
  const after = c.req.query("after");
  if (after !== undefined) params.after = after;
  const before = c.req.query("before");
  if (before !== undefined) params.before = before;
  return params;
}

const metadataSchema = z
  .record(z.string().max(64), z.string().max(512))
  .refine((value) => Object.keys(value).length <= 16, "at most 16 metadata keys");

const chunkingSchema = z.union([
  z.object({ type: z.literal("auto") }).strict(),
  z
    .object({
      type: z.literal("static"),
      static: z
        .object({
          max_chunk_size_tokens: z.number().int().min(100).max(4096),
          chunk_overlap_tokens: z.number().int().min(0),
        })
        .strict(),
    })
    .strict(),
]);

function chunkingOf(value: z.infer<typeof chunkingSchema> | undefined): ChunkingStrategy | undefined {
  if (value === undefined || value.type === "auto") return undefined;
  return { maxTokens: value.static.max_chunk_size_tokens, overlapTokens: value.static.chunk_overlap_tokens };
}

const expiresAfterSchema = z
  .object({ anchor: z.literal("last_active_at"), days: z.number().int().min(1).max(365) })
  .strict();

const createStoreSchema = z
  .object({
    name: z.string().max(256).optional(),
    file_ids: z.array(z.string().min(1)).max(500).optional(),
    metadata: metadataSchema.nullish(),
    expires_after: expiresAfterSchema.optional(),
    chunking_strategy: chunkingSchema.optional(),
    description: z.string().optional(),
  })
  .strict();

const updateStoreSchema = z
  .object({
    name: z.string().max(256).nullish(),
    metadata: metadataSchema.nullish(),
    expires_after: expiresAfterSchema.nullish(),
  })
  .strict();

const addFileSchema = z
  .object({
    file_id: z.string().min(1),
    attributes: attributesSchema.nullish(),
    chunking_strategy: chunkingSchema.optional(),
  })
  .strict();

const batchSchema = z
  .object({
    file_ids: z.array(z.string().min(1)).min(1).max(500),
    attributes: attributesSchema.nullish(),
    chunking_strategy: chunkingSchema.optional(),
  })
  .strict();

const updateFileSchema = z.object({ attributes: attributesSchema.nullable() }).strict();

const searchSchema = z
  .object({
    query: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    filters: filterSchema.nullish(),
    max_num_results: z.number().int().min(1).max(50).optional(),
    ranking_options: z
      .object({
        ranker: z.enum(["auto", "none", "default-2024-11-15"]).optional(),
        score_threshold: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    rewrite_query: z.boolean().optional(),
  })
  .strict();

const fileStatuses = new Set(["in_progress", "completed", "failed", "cancelled"]);

/** `/v1/vector_stores` and its `/files`, `/file_batches` and `/search`, with OpenAI's shapes. */
export function registerVectorStoreRoutes(app: Hono<ServerEnv>, documents: DocumentService): void {
  app.post("/v1/vector_stores", async (c) => {
    const body = createStoreSchema.parse(await readJsonBody(c));
    const chunking = chunkingOf(body.chunking_strategy);
    return c.json(
      await documents.createVectorStore(tenantOf(c), {
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.metadata == null ? {} : { metadata: body.metadata }),
        ...(body.file_ids === undefined ? {} : { fileIds: body.file_ids }),
        ...(body.expires_after === undefined ? {} : { expiresAfter: body.expires_after }),
        ...(chunking === undefined ? {} : { chunking }),
      }),
    );
  });
  app.get("/v1/vector_stores", async (c) =>
    c.json(await documents.listVectorStores(tenantOf(c), listParams(c))),
  );
  app.get("/v1/vector_stores/:id", async (c) =>
    c.json(await documents.getVectorStore(tenantOf(c), c.req.param("id"))),
  );
  app.post("/v1/vector_stores/:id", async (c) => {
    const body = updateStoreSchema.parse(await readJsonBody(c));
    return c.json(
      await documents.updateVectorStore(tenantOf(c), c.req.param("id"), {
        ...(body.name == null ? {} : { name: body.name }),
        ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
        ...(body.expires_after === undefined ? {} : { expiresAfter: body.expires_after }),
      }),
    );
  });
  app.delete("/v1/vector_stores/:id", async (c) =>
    c.json(await documents.deleteVectorStore(tenantOf(c), c.req.param("id"))),
  );

  app.post("/v1/vector_stores/:id/search", async (c) => {
    const body = searchSchema.parse(await readJsonBody(c));
    const query = Array.isArray(body.query) ? body.query.join(" ") : body.query;
    const hits = await documents.search(tenantOf(c), [c.req.param("id")], {
      query,
      maxNumResults: body.max_num_results ?? 10,
      ...(body.filters == null ? {} : { filters: body.filters }),
      ...(body.ranking_options?.ranker === undefined ? {} : { ranker: body.ranking_options.ranker }),
      ...(body.ranking_options?.score_threshold === undefined
        ? {}
        : { scoreThreshold: body.ranking_options.score_threshold }),
    });
    return c.json({
      object: "vector_store.search_results.page",
      search_query: Array.isArray(body.query) ? body.query : [body.query],
      data: hits.map((hit) => ({
        file_id: hit.fileId,
        filename: hit.filename,
        score: hit.score,
        attributes: hit.attributes,
        content: [{ type: "text", text: hit.text }],
        // Where the passage sits in the parsed document, for citations that point at the page.
        page: hit.page,
        start_char: hit.start,
        end_char: hit.end,
      })),
      has_more: false,
      next_page: null,
    });
  });

  app.post("/v1/vector_stores/:id/files", async (c) => {
    const body = addFileSchema.parse(await readJsonBody(c));
    const chunking = chunkingOf(body.chunking_strategy);
    return c.json(
      await documents.addFile(tenantOf(c), c.req.param("id"), {
        fileId: body.file_id,
        ...(body.attributes == null ? {} : { attributes: body.attributes }),
        ...(chunking === undefined ? {} : { chunking }),
      }),
    );
  });
  app.get("/v1/vector_stores/:id/files", async (c) => {
    const filter = c.req.query("filter");
    if (filter !== undefined && !fileStatuses.has(filter))
      throw new BastionError(
        "invalid_request",
        "'filter' must be in_progress, completed, failed or cancelled.",
        { param: "filter" },
      );
    return c.json(
      await documents.listVectorStoreFiles(tenantOf(c), c.req.param("id"), {
        ...listParams(c),
        ...(filter === undefined ? {} : { filter }),
      }),
    );
  });
  app.get("/v1/vector_stores/:id/files/:fileId", async (c) =>
    c.json(await documents.getVectorStoreFile(tenantOf(c), c.req.param("id"), c.req.param("fileId"))),
  );
  app.post("/v1/vector_stores/:id/files/:fileId", async (c) => {
    const body = updateFileSchema.parse(await readJsonBody(c));
    return c.json(
      await documents.updateVectorStoreFile(
        tenantOf(c),
        c.req.param("id"),
        c.req.param("fileId"),
        body.attributes ?? {},
      ),
    );
  });
  app.delete("/v1/vector_stores/:id/files/:fileId", async (c) =>
    c.json(await documents.removeVectorStoreFile(tenantOf(c), c.req.param("id"), c.req.param("fileId"))),
  );
  app.get("/v1/vector_stores/:id/files/:fileId/content", async (c) => {
    const data = await documents.vectorStoreFileContent(
      tenantOf(c),
      c.req.param("id"),
      c.req.param("fileId"),
    );
    return c.json({ object: "vector_store.file_content.page", data, has_more: false, next_page: null });
  });

  app.post("/v1/vector_stores/:id/file_batches", async (c) => {
    const body = batchSchema.parse(await readJsonBody(c));
    const chunking = chunkingOf(body.chunking_strategy);
    return c.json(
      await documents.createBatch(tenantOf(c), c.req.param("id"), {
        fileIds: body.file_ids,
        ...(body.attributes == null ? {} : { attributes: body.attributes }),
        ...(chunking === undefined ? {} : { chunking }),
      }),
    );
  });
  app.get("/v1/vector_stores/:id/file_batches/:batchId", async (c) =>
    c.json(await documents.getBatch(tenantOf(c), c.req.param("id"), c.req.param("batchId"))),
  );
  app.post("/v1/vector_stores/:id/file_batches/:batchId/cancel", async (c) =>
    c.json(await documents.cancelBatch(tenantOf(c), c.req.param("id"), c.req.param("batchId"))),
  );
  app.get("/v1/vector_stores/:id/file_batches/:batchId/files", async (c) => {
    const filter = c.req.query("filter");
    return c.json(
      await documents.listVectorStoreFiles(tenantOf(c), c.req.param("id"), {
        ...listParams(c),
        batchId: c.req.param("batchId"),
        ...(filter === undefined ? {} : { filter }),
      }),
    );
  });
}
