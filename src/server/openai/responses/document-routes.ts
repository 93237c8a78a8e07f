import type { Hono } from "hono";
import { isSuperAdmin } from "../../../auth/actor.ts";
import { BastionError } from "../../../core/errors.ts";
import type { Principal } from "../../../core/principal.ts";
import {
  type Assistants,
  assistantDescriptor,
  assistantInputSchema,
  assistantPatchSchema,
  createAssistantChatService,
} from "../../../documents/assistants.ts";
import type { DocumentService } from "../../../documents/document-service.ts";
import { createStoredResponses } from "../../../documents/stored-responses.ts";
import { readJsonBody } from "../../read-json-body.ts";
import type { ServerDependencies, ServerEnv } from "../../server-env.ts";
import { registerFilesRoutes } from "../files-route.ts";
import { toWireModel } from "../models-route.ts";
import { registerResponsesRoutes } from "../responses-route.ts";
import { registerVectorStoreRoutes, tenantOf } from "../vector-stores-route.ts";

/** What the documents routes need besides the app's own dependencies. */
export interface DocumentRoutesOptions {
  service: DocumentService;
  assistants: Assistants;
  /** Largest multipart upload `POST /v1/files` takes. */
  maxUploadBytes: number;
}

/**
 * Mounts files, vector stores, responses and assistants. Chats addressed to an assistant id are
 * grounded by wrapping `deps.chat` (so every dialect that runs chats through it gets assistants),
 * and `/v1/models` lists the tenant's assistants after the models. Call before the core routes:
 * the `/v1/models` middleware must be registered ahead of its handler.
 */
export function registerDocumentRoutes(
  app: Hono<ServerEnv>,
  deps: ServerDependencies,
  options: DocumentRoutesOptions,
): void {
  const { service: documents, assistants } = options;
  deps.chat = createAssistantChatService(deps.chat, assistants, documents);
  const responses = createStoredResponses(documents.store);

  registerFilesRoutes(app, documents, options.maxUploadBytes);
  registerVectorStoreRoutes(app, documents);
  registerResponsesRoutes(app, { chat: () => deps.chat, documents, responses });

  app.use("/v1/models", async (c, next) => {
    await next();
    if (c.req.method !== "GET" || c.res.status !== 200) return;
    const body = (await c.res.clone().json()) as { object: string; data: Array<{ id: string }> };
    const models = await deps.registry.list();
    const extra = (await assistants.list(tenantOf(c))).map((assistant) => ({
      ...toWireModel(
        assistantDescriptor(
          assistant,
          models.find((model) => model.id === assistant.model),
        ),
      ),
      assistant: { model: assistant.model, vector_store_ids: assistant.vector_store_ids },
    }));
    c.res = new Response(JSON.stringify({ ...body, data: [...body.data, ...extra] }), {
      status: 200,
      headers: c.res.headers,
    });
  });
  app.use("/v1/models/*", async (c, next) => {
    await next();
    if (c.req.method !== "GET" || c.res.status !== 404) return;
    const id = decodeURIComponent(new URL(c.req.url).pathname.slice("/v1/models/".length));
    const assistant = await assistants.find(tenantOf(c), id);
    if (assistant === undefined) return;
    const base = (await deps.registry.list()).find((model) => model.id === assistant.model);
    c.res = new Response(JSON.stringify(toWireModel(assistantDescriptor(assistant, base))), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  });

  const requireAdmin = (roles: readonly string[] | undefined) => {
    // Without auth (no principal) the server is loopback-only and its user is the admin.
    if (roles !== undefined && !roles.includes("admin"))
      throw new BastionError("forbidden", "Managing assistants needs the admin role.");
  };
  // An assistant's policy overrides the caller's key's and tenant's. A tenant's own admin may not
  // change the tenant's policy, so neither may they hand an assistant another one than their own:
  // only admins of the default tenant (the platform team) choose freely.
  const checkPolicyRights = (principal: Principal | undefined, policy: string | null | undefined) => {
    if (principal === undefined || policy === undefined || policy === null) return;
    if (isSuperAdmin(principal) || policy === principal.policy) return;
    throw new BastionError(
      "forbidden",
      `Only admins of the default tenant can give an assistant a policy other than yours (${principal.policy ?? "the default"}).`,
      { param: "policy" },
    );
  };
  app.get("/admin/v1/assistants", async (c) => {
    requireAdmin(c.get("principal")?.roles);
    return c.json({ object: "list", data: await assistants.list(tenantOf(c)) });
  });
  app.post("/admin/v1/assistants", async (c) => {
    requireAdmin(c.get("principal")?.roles);
    const body = assistantInputSchema.parse(await readJsonBody(c));
    checkPolicyRights(c.get("principal"), body.policy);
    // Every store must be the tenant's own before anything is written.
    for (const id of body.vector_store_ids) await documents.getVectorStore(tenantOf(c), id);
    return c.json(await assistants.create(tenantOf(c), body), 201);
  });
  app.get("/admin/v1/assistants/:id", async (c) => {
    requireAdmin(c.get("principal")?.roles);
    return c.json(await assistants.get(tenantOf(c), c.req.param("id")));
  });
  app.patch("/admin/v1/assistants/:id", async (c) => {
    requireAdmin(c.get("principal")?.roles);
    const body = assistantPatchSchema.parse(await readJsonBody(c));
    checkPolicyRights(c.get("principal"), body.policy);
    for (const id of body.vector_store_ids ?? []) await documents.getVectorStore(tenantOf(c), id);
    return c.json(await assistants.update(tenantOf(c), c.req.param("id"), body));
  });
  app.delete("/admin/v1/assistants/:id", async (c) => {
    requireAdmin(c.get("principal")?.roles);
    const id = c.req.param("id");
    await assistants.delete(tenantOf(c), id);
    return c.json({ id, object: "assistant.deleted", deleted: true });
  });
}
