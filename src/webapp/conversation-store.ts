import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { BastionError } from "../core/errors.ts";
import type { Store } from "../store/database.ts";
import type { WebConversationTable, WebMessageTable } from "./tables.ts";

/** Whose conversations these are: every call is scoped to one tenant and one owner. */
export interface ConversationOwner {
  tenantId: string;
  /** The user id, or `key:<id>` for a key without a user, or `anonymous` when auth is off. */
  ownerId: string;
}

export interface Conversation {
  id: string;
  title: string;
  model: string | null;
  activeLeafId: string | null;
  createdAt: number;
  updatedAt: number;
}

export type MessageRole = "system" | "user" | "assistant";

export interface ConversationMessage {
  id: string;
  parentId: string | null;
  role: MessageRole;
  content: string;
  reasoning: string | null;
  model: string | null;
  /** The answer's data passport, as the client recorded it. */
  meta: Record<string, unknown> | null;
  createdAt: number;
}

export interface ConversationWithMessages extends Conversation {
  messages: ConversationMessage[];
}

export interface NewMessage {
  parentId: string | null;
  role: MessageRole;
  content: string;
  reasoning?: string | null;
  model?: string | null;
  meta?: Record<string, unknown> | null;
}

/** Conversations of the web chat, stored per user; every read and write is scoped to its owner. */
export interface ConversationStore {
  list(owner: ConversationOwner, options?: { query?: string; limit?: number }): Promise<Conversation[]>;
  create(owner: ConversationOwner, input: { title: string; model?: string | null }): Promise<Conversation>;
  /** Throws `not_found` when the conversation does not exist or belongs to someone else. */
  get(owner: ConversationOwner, id: string): Promise<ConversationWithMessages>;
  update(
    owner: ConversationOwner,
    id: string,
    patch: { title?: string; model?: string | null; activeLeafId?: string | null },
  ): Promise<Conversation>;
  addMessage(owner: ConversationOwner, id: string, message: NewMessage): Promise<ConversationMessage>;
  /** Deletes the conversation and every message of it, for good. */
  remove(owner: ConversationOwner, id: string): Promise<void>;
  /** Deletes every conversation of the owner (erasure of a user); returns how many went. */
  removeAll(owner: ConversationOwner): Promise<number>;
}

const toNumber = (value: number | string | bigint): number => Number(value);

function toConversation(row: WebConversationTable): Conversation {
  return {
    id: row.id,
    title: row.title,
    model: row.model,
    activeLeafId: row.active_leaf_id,
    createdAt: toNumber(row.created_at),
    updatedAt: toNumber(row.updated_at),
  };
}

function toMessage(row: WebMessageTable): ConversationMessage {
  let meta: Record<string, unknown> | null = null;
  if (row.meta !== null) {
    try {
      meta = JSON.parse(row.meta) as Record<string, unknown>;
    } catch {
      // A row written by hand or by a future version: show the message without its passport.
      meta = null;
    }
  }
  return {
    id: row.id,
    parentId: row.parent_id,
    role: row.role as MessageRole,
    content: row.content,
    reasoning: row.reasoning,
    model: row.model,
    meta,
    createdAt: toNumber(row.created_at),
  };
}

/** Escapes `%`, `_` and the escape character itself for a `LIKE ... ESCAPE '\'` pattern. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/**
 * The conversation repository over the Bastion store (Kysely, SQLite or PostgreSQL). Timestamps
 * are milliseconds and strictly increase within a conversation, so the order of messages never
 * depends on the clock's resolution.
 */
export function createConversationStore(store: Store): ConversationStore {
  const { db } = store;

  async function owned(owner: ConversationOwner, id: string): Promise<WebConversationTable> {
    const row = await db
      .selectFrom("web_conversations")
      .selectAll()
      .where("id", "=", id)
      .where("tenant_id", "=", owner.tenantId)
      .where("owner_id", "=", owner.ownerId)
      .executeTakeFirst();
    // Someone else's conversation answers exactly like a missing one: no existence oracle.
    if (row === undefined) throw new BastionError("not_found", `No conversation "${id.slice(0, 64)}".`);
    return row;
  }

  return {
    async list(owner, options = {}) {
      let query = db
        .selectFrom("web_conversations")
        .selectAll()
        .where("tenant_id", "=", owner.tenantId)
        .where("owner_id", "=", owner.ownerId);
      const text = options.query?.trim();
      if (text !== undefined && text !== "") {
        const pattern = likePattern(text);
        query = query.where((eb) =>
          eb.or([
            eb(sql`lower(title)`, "like", sql`${pattern} escape '\\'`),
            eb.exists(
              eb
                .selectFrom("web_messages")
                .select("web_messages.id")
                .whereRef("web_messages.conversation_id", "=", "web_conversations.id")
                .where(sql`lower(content)`, "like", sql`${pattern} escape '\\'`),
            ),
          ]),
        );
      }
      const rows = await query
        .orderBy("updated_at", "desc")
        .orderBy("id")
        .limit(options.limit ?? 200)
        .execute();
      return rows.map(toConversation);
    },

    async create(owner, input) {
      const now = Date.now();
      const row: WebConversationTable = {
        id: `conv_${randomUUID().replaceAll("-", "")}`,
        tenant_id: owner.tenantId,
        owner_id: owner.ownerId,
        title: input.title,
        model: input.model ?? null,
        active_leaf_id: null,
        created_at: now,
        updated_at: now,
      };
      await db.insertInto("web_conversations").values(row).execute();
      return toConversation(row);
    },

    async get(owner, id) {
      const row = await owned(owner, id);
      const messages = await db
        .selectFrom("web_messages")
        .selectAll()
        .where("conversation_id", "=", id)
        .orderBy("created_at")
        .orderBy("id")
        .execute();
      return { ...toConversation(row), messages: messages.map(toMessage) };
    },

    async update(owner, id, patch) {
      await owned(owner, id);
      if (patch.activeLeafId !== undefined && patch.activeLeafId !== null) {
        const leaf = await db
          .selectFrom("web_messages")
          .select("id")
          .where("id", "=", patch.activeLeafId)
          .where("conversation_id", "=", id)
          .executeTakeFirst();
        if (leaf === undefined)
          throw new BastionError("invalid_request", "active_leaf_id is not a message of this conversation.", {
            param: "active_leaf_id",
          });
      }
      const values: Partial<WebConversationTable> = { updated_at: Date.now() };
      if (patch.title !== undefined) values.title = patch.title;
      if (patch.model !== undefined) values.model = patch.model;
      if (patch.activeLeafId !== undefined) values.active_leaf_id = patch.activeLeafId;
      await db.updateTable("web_conversations").set(values).where("id", "=", id).execute();
      return toConversation(await owned(owner, id));
    },

    async addMessage(owner, id, message) {
      return db.transaction().execute(async (trx) => {
        const conversation = await trx
          .selectFrom("web_conversations")
          .select("id")
          .where("id", "=", id)
          .where("tenant_id", "=", owner.tenantId)
          .where("owner_id", "=", owner.ownerId)
          .executeTakeFirst();
        if (conversation === undefined)
          throw new BastionError("not_found", `No conversation "${id.slice(0, 64)}".`);
        if (message.parentId !== null) {
          const parent = await trx
            .selectFrom("web_messages")
            .select("id")
            .where("id", "=", message.parentId)
            .where("conversation_id", "=", id)
            .executeTakeFirst();
          if (parent === undefined)
            throw new BastionError("invalid_request", "parent_id is not a message of this conversation.", {
              param: "parent_id",
            });
        }
        const last = await trx
          .selectFrom("web_messages")
          .select(({ fn }) => fn.max("created_at").as("latest"))
          .where("conversation_id", "=", id)
          .executeTakeFirst();
        const latest = last?.latest === null || last?.latest === undefined ? 0 : toNumber(last.latest);
        const row: WebMessageTable = {
          id: `msg_${randomUUID().replaceAll("-", "")}`,
          conversation_id: id,
          parent_id: message.parentId,
          role: message.role,
          content: message.content,
          reasoning: message.reasoning ?? null,
          model: message.model ?? null,
          meta: message.meta === undefined || message.meta === null ? null : JSON.stringify(message.meta),
          created_at: Math.max(Date.now(), latest + 1),
        };
        await trx.insertInto("web_messages").values(row).execute();
        await trx
          .updateTable("web_conversations")
          .set({ updated_at: row.created_at, active_leaf_id: row.id })
          .where("id", "=", id)
          .execute();
        return toMessage(row);
      });
    },

    async remove(owner, id) {
      await owned(owner, id);
      // Messages first and explicitly: erasure must not depend on foreign keys being enforced.
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("web_messages").where("conversation_id", "=", id).execute();
        await trx.deleteFrom("web_conversations").where("id", "=", id).execute();
      });
    },

    async removeAll(owner) {
      return db.transaction().execute(async (trx) => {
        const ids = trx
          .selectFrom("web_conversations")
          .select("id")
          .where("tenant_id", "=", owner.tenantId)
          .where("owner_id", "=", owner.ownerId);
        await trx.deleteFrom("web_messages").where("conversation_id", "in", ids).execute();
        const result = await trx
          .deleteFrom("web_conversations")
          .where("tenant_id", "=", owner.tenantId)
          .where("owner_id", "=", owner.ownerId)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },
  };
}
