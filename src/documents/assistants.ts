import { z } from "zod";
import { type AssistantConfig, assistantIdSchema } from "../config/documents-config.ts";
import type { ModelDescriptor } from "../core/backend.ts";
import type { ChatMessage } from "../core/chat.ts";
import type { ChatService } from "../core/chat-service.ts";
import { BastionError } from "../core/errors.ts";
import type { Store } from "../store/database.ts";
import type { DocumentService } from "./document-service.ts";
import { groundingPrompt } from "./grounding.ts";
import { nowSeconds, parseJson } from "./ids.ts";
import type { AssistantTable } from "./tables.ts";

/** A named assistant: a model, its instructions, the vector stores it answers from, and a policy. */
export interface Assistant {
  id: string;
  object: "assistant";
  tenant_id: string;
  model: string;
  instructions: string;
  vector_store_ids: string[];
  max_num_results: number;
  policy: string | null;
  description: string | null;
  source: "config" | "api";
  created_at: number;
}

/** Body of `POST /admin/v1/assistants` and `PATCH` (all optional there). */
export const assistantInputSchema = z
  .object({
    id: assistantIdSchema,
    model: z.string().min(1),
    instructions: z.string().max(100_000).default(""),
    vector_store_ids: z.array(z.string().min(1)).max(16).default([]),
    max_num_results: z.number().int().min(1).max(50).default(5),
    policy: z.string().min(1).nullish(),
    description: z.string().max(2000).nullish(),
  })
  .strict();

export const assistantPatchSchema = assistantInputSchema.omit({ id: true }).partial().strict();

function toAssistant(row: AssistantTable): Assistant {
  return {
    id: row.id,
    object: "assistant",
    tenant_id: row.tenant_id,
    model: row.model,
    instructions: row.instructions,
    vector_store_ids: parseJson<string[]>(row.vector_store_ids, []),
    max_num_results: row.max_num_results,
    policy: row.policy,
    description: row.description,
    source: row.source === "config" ? "config" : "api",
    created_at: Number(row.created_at),
  };
}

/** A new assistant's row, from the admin API's input or a config file entry. */
function newAssistantRow(
  tenantId: string,
  fields: Pick<AssistantConfig, "id" | "model" | "instructions" | "vectorStoreIds" | "maxNumResults"> & {
    policy?: string | null | undefined;
    description?: string | null | undefined;
  },
  source: "config" | "api",
): AssistantTable {
  return {
    id: fields.id,
    tenant_id: tenantId,
    model: fields.model,
    instructions: fields.instructions,
    vector_store_ids: JSON.stringify(fields.vectorStoreIds),
    max_num_results: fields.maxNumResults,
    policy: fields.policy ?? null,
    description: fields.description ?? null,
    source,
    created_at: nowSeconds(),
  };
}

export interface Assistants {
  list(tenantId: string): Promise<Assistant[]>;
  find(tenantId: string, id: string): Promise<Assistant | undefined>;
  get(tenantId: string, id: string): Promise<Assistant>;
  create(tenantId: string, input: z.input<typeof assistantInputSchema>): Promise<Assistant>;
  update(tenantId: string, id: string, input: z.input<typeof assistantPatchSchema>): Promise<Assistant>;
  delete(tenantId: string, id: string): Promise<void>;
  /** Makes the table hold exactly the config file's assistants (source `config`); API ones stay. */
  syncFromConfig(entries: readonly AssistantConfig[]): Promise<void>;
}

/** The assistants table, managed by the config file and the admin API. */
export function createAssistants(store: Store, modelExists: (id: string) => boolean): Assistants {
  const db = store.db;
  const assistants: Assistants = {
    async list(tenantId) {
      const rows = await db
        .selectFrom("assistants")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .orderBy("id")
        .execute();
      return rows.map(toAssistant);
    },
    async find(tenantId, id) {
      const row = await db
        .selectFrom("assistants")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .executeTakeFirst();
      return row === undefined ? undefined : toAssistant(row);
    },
    async get(tenantId, id) {
      const found = await assistants.find(tenantId, id);
      if (found === undefined) throw new BastionError("not_found", `No assistant '${id.slice(0, 100)}'.`);
      return found;
    },
    async create(tenantId, input) {
      const parsed = assistantInputSchema.parse(input);
      if (modelExists(parsed.id))
        throw new BastionError(
          "invalid_request",
          `'${parsed.id}' is already a model id; pick another assistant id.`,
          { param: "id" },
        );
      if (!modelExists(parsed.model))
        throw new BastionError("model_not_found", `The model '${parsed.model}' does not exist.`, {
          param: "model",
        });
      if ((await assistants.find(tenantId, parsed.id)) !== undefined)
        throw new BastionError("invalid_request", `An assistant '${parsed.id}' already exists.`, {
          param: "id",
        });
      await db
        .insertInto("assistants")
        .values(
          newAssistantRow(
            tenantId,
            {
              id: parsed.id,
              model: parsed.model,
              instructions: parsed.instructions,
              vectorStoreIds: parsed.vector_store_ids,
              maxNumResults: parsed.max_num_results,
              policy: parsed.policy,
              description: parsed.description,
            },
            "api",
          ),
        )
        .execute();
      return assistants.get(tenantId, parsed.id);
    },
    async update(tenantId, id, input) {
      const current = await assistants.get(tenantId, id);
      if (current.source === "config")
        throw new BastionError("forbidden", `Assistant '${id}' comes from the config file; change it there.`);
      const patch = assistantPatchSchema.parse(input);
      if (patch.model !== undefined && !modelExists(patch.model))
        throw new BastionError("model_not_found", `The model '${patch.model}' does not exist.`, {
          param: "model",
        });
      await db
        .updateTable("assistants")
        .set({
          ...(patch.model === undefined ? {} : { model: patch.model }),
          ...(patch.instructions === undefined ? {} : { instructions: patch.instructions }),
          ...(patch.vector_store_ids === undefined
            ? {}
            : { vector_store_ids: JSON.stringify(patch.vector_store_ids) }),
          ...(patch.max_num_results === undefined ? {} : { max_num_results: patch.max_num_results }),
          ...(patch.policy === undefined ? {} : { policy: patch.policy }),
          ...(patch.description === undefined ? {} : { description: patch.description }),
        })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .execute();
      return assistants.get(tenantId, id);
    },
    async delete(tenantId, id) {
      const current = await assistants.get(tenantId, id);
      if (current.source === "config")
        throw new BastionError("forbidden", `Assistant '${id}' comes from the config file; remove it there.`);
      await db.deleteFrom("assistants").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
    },
    async syncFromConfig(entries) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("assistants").where("source", "=", "config").execute();
        for (const entry of entries) {
          await trx
            .deleteFrom("assistants")
            .where("tenant_id", "=", entry.tenant)
            .where("id", "=", entry.id)
            .execute();
          await trx
            .insertInto("assistants")
            .values(newAssistantRow(entry.tenant, entry, "config"))
            .execute();
        }
      });
    },
  };
  return assistants;
}

/** How an assistant appears in `/v1/models`: the model it runs on, flagged as an assistant. */
export function assistantDescriptor(
  assistant: Assistant,
  base: ModelDescriptor | undefined,
): ModelDescriptor {
  return {
    id: assistant.id,
    aliases: [],
    ownedBy: `assistant:${assistant.tenant_id}`,
    created: assistant.created_at,
    loaded: base?.loaded ?? false,
    capabilities: base?.capabilities ?? {
      chat: true,
      reasoning: false,
      tools: false,
      jsonSchema: false,
      embeddings: false,
    },
    ...(base?.contextLength === undefined ? {} : { contextLength: base.contextLength }),
    ...(base?.synthetic === undefined ? {} : { synthetic: base.synthetic }),
  };
}

/**
 * Chats addressed to an assistant id run retrieval over the assistant's vector stores and reach
 * its model with its instructions and the cited passages prepended; other chats pass through.
 */
export function createAssistantChatService(
  inner: ChatService,
  assistants: Assistants,
  documents: DocumentService,
): ChatService {
  return {
    async open(request, context) {
      const tenantId = context.principal?.tenantId ?? "default";
      const assistant = await assistants.find(tenantId, request.model);
      if (assistant === undefined) return inner.open(request, context);
      const question =
        [...request.messages].reverse().find((message) => message.role === "user")?.content ?? "";
      const hits =
        assistant.vector_store_ids.length === 0 || question.trim() === ""
          ? []
          : await documents.search(tenantId, assistant.vector_store_ids, {
              query: question,
              maxNumResults: assistant.max_num_results,
            });
      const system = [
        assistant.instructions,
        assistant.vector_store_ids.length === 0 ? "" : groundingPrompt(hits),
      ]
        .filter((part) => part.trim() !== "")
        .join("\n\n");
      const messages: ChatMessage[] =
        system === "" ? request.messages : [{ role: "system", content: system }, ...request.messages];
      const session = await inner.open(
        { ...request, model: assistant.model, messages },
        {
          ...context,
          // Not a copy of the principal: the limits below find this request's budget reservation
          // and concurrency slot by the principal object itself.
          ...(assistant.policy === null ? {} : { policy: assistant.policy }),
        },
      );
      return { ...session, model: { ...session.model, id: assistant.id } };
    },
  };
}
