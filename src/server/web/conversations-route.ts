import type { Context, Hono } from "hono";
import { z } from "zod";
import { BastionError } from "../../core/errors.ts";
import type { Principal } from "../../core/principal.ts";
import type {
  ConversationMessage,
  ConversationOwner,
  ConversationStore,
  ConversationWithMessages,
} from "../../webapp/conversation-store.ts";
import { conversationToMarkdown } from "../../webapp/export-markdown.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";

const title = z.string().trim().min(1, "a title cannot be empty").max(200);
const model = z.string().min(1).max(200).nullable();

const createSchema = z.strictObject({ title: title.optional(), model: model.optional() });
const patchSchema = z.strictObject({
  title: title.optional(),
  model: model.optional(),
  active_leaf_id: z.string().min(1).max(100).nullable().optional(),
});
const messageSchema = z.strictObject({
  parent_id: z.string().min(1).max(100).nullable(),
  role: z.enum(["system", "user", "assistant"]),
  content: z.string().max(1_000_000),
  reasoning: z.string().max(1_000_000).nullable().optional(),
  model: model.optional(),
  meta: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** The owner of the conversations a request may see: its user, else its key, else (auth off) everyone. */
export function conversationOwner(principal: Principal | undefined): ConversationOwner {
  if (principal === undefined) return { tenantId: "default", ownerId: "anonymous" };
  const ownerId = principal.userId ?? (principal.keyId === undefined ? "tenant" : `key:${principal.keyId}`);
  return { tenantId: principal.tenantId, ownerId };
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.join(".") || null;
  throw new BastionError("invalid_request", `${param ?? "body"}: ${issue.message}`, { param });
}

function wireMessage(message: ConversationMessage) {
  return {
    id: message.id,
    parent_id: message.parentId,
    role: message.role,
    content: message.content,
    reasoning: message.reasoning,
    model: message.model,
    meta: message.meta,
    created_at: message.createdAt,
  };
}

function wireConversation(
  conversation: Omit<ConversationWithMessages, "messages"> & { messages?: ConversationMessage[] },
) {
  return {
    id: conversation.id,
    object: "conversation",
    title: conversation.title,
    model: conversation.model,
    active_leaf_id: conversation.activeLeafId,
    created_at: conversation.createdAt,
    updated_at: conversation.updatedAt,
    ...(conversation.messages === undefined ? {} : { messages: conversation.messages.map(wireMessage) }),
  };
}

function fileName(conversation: { title: string }, extension: string): string {
  const base =
    conversation.title
      .replace(/[^\p{L}\p{N} _-]+/gu, "")
      .trim()
      .slice(0, 60) || "conversation";
  return `${base}.${extension}`;
}

/**
 * `/app/api/conversations…`: the web chat's own storage. Every route is scoped to the caller
 * (`conversationOwner`); another user's conversation answers 404, as a missing one does.
 */
export function registerConversationRoutes(
  app: Hono<ServerEnv>,
  conversations: ConversationStore | undefined,
): void {
  const storeOf = (): ConversationStore => {
    if (conversations === undefined)
      throw new BastionError(
        "not_ready",
        "Conversation storage is not available: this server was started without a database.",
      );
    return conversations;
  };
  const owner = (c: Context<ServerEnv>) => conversationOwner(c.get("principal"));

  app.get("/app/api/conversations", async (c) => {
    const query = c.req.query("q");
    const limit = Number(c.req.query("limit") ?? 200);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new BastionError("invalid_request", "limit must be an integer from 1 to 1000.", {
        param: "limit",
      });
    const list = await storeOf().list(owner(c), {
      ...(query === undefined ? {} : { query: query.slice(0, 200) }),
      limit,
    });
    return c.json({ object: "list", data: list.map((item) => wireConversation(item)) });
  });

  app.post("/app/api/conversations", async (c) => {
    const body = parse(createSchema, await readJsonBody(c));
    const created = await storeOf().create(owner(c), {
      title: body.title ?? "New conversation",
      ...(body.model === undefined ? {} : { model: body.model }),
    });
    return c.json(wireConversation(created), 201);
  });

  app.get("/app/api/conversations/:id", async (c) => {
    const conversation = await storeOf().get(owner(c), c.req.param("id"));
    return c.json(wireConversation(conversation));
  });

  app.patch("/app/api/conversations/:id", async (c) => {
    const body = parse(patchSchema, await readJsonBody(c));
    const updated = await storeOf().update(owner(c), c.req.param("id"), {
      ...(body.title === undefined ? {} : { title: body.title }),
      ...(body.model === undefined ? {} : { model: body.model }),
      ...(body.active_leaf_id === undefined ? {} : { activeLeafId: body.active_leaf_id }),
    });
    return c.json(wireConversation(updated));
  });

  app.delete("/app/api/conversations/:id", async (c) => {
    await storeOf().remove(owner(c), c.req.param("id"));
    return c.json({ id: c.req.param("id"), object: "conversation.deleted", deleted: true });
  });

  app.post("/app/api/conversations/:id/messages", async (c) => {
    const body = parse(messageSchema, await readJsonBody(c));
    const message = await storeOf().addMessage(owner(c), c.req.param("id"), {
      parentId: body.parent_id,
      role: body.role,
      content: body.content,
      ...(body.reasoning === undefined ? {} : { reasoning: body.reasoning }),
      ...(body.model === undefined ? {} : { model: body.model }),
      ...(body.meta === undefined ? {} : { meta: body.meta }),
    });
    return c.json(wireMessage(message), 201);
  });

  app.get("/app/api/conversations/:id/export", async (c) => {
    const format = c.req.query("format") ?? "md";
    if (format !== "md" && format !== "json")
      throw new BastionError("invalid_request", "format must be md or json.", { param: "format" });
    const conversation = await storeOf().get(owner(c), c.req.param("id"));
    if (format === "json") {
      return c.body(JSON.stringify(wireConversation(conversation), null, 2), 200, {
        "content-type": "application/json; charset=utf-8",
        "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(fileName(conversation, "json"))}`,
      });
    }
    return c.body(conversationToMarkdown(conversation), 200, {
      "content-type": "text/markdown; charset=utf-8",
      "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(fileName(conversation, "md"))}`,
    });
  });
}
