import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createConversationStore } from "./conversation-store.ts";

const alice = { tenantId: "acme", ownerId: "user_alice" };
const bob = { tenantId: "acme", ownerId: "user_bob" };
const otherTenantAlice = { tenantId: "globex", ownerId: "user_alice" };

describe.each(testDatabases())("conversation store on $name", ({ open }) => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.destroy();
    store = undefined;
  });

  it("keeps a tree of messages and the shown branch", async () => {
    store = await open();
    const conversations = createConversationStore(store);
    const conversation = await conversations.create(alice, { title: "Trip", model: "default" });
    const question = await conversations.addMessage(alice, conversation.id, {
      parentId: null,
      role: "user",
      content: "Where is Lyon?",
    });
    const first = await conversations.addMessage(alice, conversation.id, {
      parentId: question.id,
      role: "assistant",
      content: "In France.",
      reasoning: "Geography.",
      meta: { backend: "local", ttft_ms: 12 },
    });
    // Regenerate: a sibling of the first answer, which becomes the shown leaf.
    const second = await conversations.addMessage(alice, conversation.id, {
      parentId: question.id,
      role: "assistant",
      content: "Lyon is in France.",
    });
    const loaded = await conversations.get(alice, conversation.id);
    expect(loaded.messages.map((message) => message.id)).toEqual([question.id, first.id, second.id]);
    expect(loaded.activeLeafId).toBe(second.id);
    expect(loaded.messages[1]).toMatchObject({
      reasoning: "Geography.",
      meta: { backend: "local", ttft_ms: 12 },
    });
    expect(loaded.messages[2]!.createdAt).toBeGreaterThan(loaded.messages[1]!.createdAt);

    const switched = await conversations.update(alice, conversation.id, { activeLeafId: first.id });
    expect(switched.activeLeafId).toBe(first.id);
    await expect(
      conversations.addMessage(alice, conversation.id, { parentId: "msg_nope", role: "user", content: "x" }),
    ).rejects.toMatchObject({ code: "invalid_request", param: "parent_id" });
    await expect(
      conversations.update(alice, conversation.id, { activeLeafId: "msg_nope" }),
    ).rejects.toMatchObject({
      code: "invalid_request",
    });
  });

  it("shows each owner only their own conversations", async () => {
    store = await open();
    const conversations = createConversationStore(store);
    const mine = await conversations.create(alice, { title: "Mine" });
    await conversations.create(bob, { title: "Bob's" });
    expect((await conversations.list(alice)).map((c) => c.title)).toEqual(["Mine"]);
    for (const stranger of [bob, otherTenantAlice]) {
      await expect(conversations.get(stranger, mine.id)).rejects.toMatchObject({ code: "not_found" });
      await expect(conversations.update(stranger, mine.id, { title: "hijack" })).rejects.toMatchObject({
        code: "not_found",
      });
      await expect(
        conversations.addMessage(stranger, mine.id, { parentId: null, role: "user", content: "x" }),
      ).rejects.toMatchObject({ code: "not_found" });
      await expect(conversations.remove(stranger, mine.id)).rejects.toMatchObject({ code: "not_found" });
    }
    expect((await conversations.get(alice, mine.id)).title).toBe("Mine");
  });

  it("searches titles and message text, case-insensitively, with LIKE wildcards taken literally", async () => {
    store = await open();
    const conversations = createConversationStore(store);
    const budget = await conversations.create(alice, { title: "Budget 2027" });
    const recipe = await conversations.create(alice, { title: "Dinner" });
    await conversations.addMessage(alice, recipe.id, {
      parentId: null,
      role: "user",
      content: "Une RATATOUILLE ?",
    });
    await conversations.create(alice, { title: "100% done" });
    expect((await conversations.list(alice, { query: "budget" })).map((c) => c.id)).toEqual([budget.id]);
    expect((await conversations.list(alice, { query: "ratatouille" })).map((c) => c.id)).toEqual([recipe.id]);
    expect((await conversations.list(alice, { query: "%" })).map((c) => c.title)).toEqual(["100% done"]);
    expect(await conversations.list(bob, { query: "budget" })).toEqual([]);
  });

  it("erases: no row of a deleted conversation is left", async () => {
    store = await open();
    const conversations = createConversationStore(store);
    const doomed = await conversations.create(alice, { title: "Secret plan" });
    await conversations.addMessage(alice, doomed.id, {
      parentId: null,
      role: "user",
      content: "codeword bluebird",
    });
    const kept = await conversations.create(alice, { title: "Kept" });
    await conversations.addMessage(alice, kept.id, { parentId: null, role: "user", content: "hello" });
    await conversations.remove(alice, doomed.id);
    const leftovers = await sql<{
      n: number | string;
    }>`select count(*) as n from web_messages where content like ${"%bluebird%"}`.execute(store.db);
    expect(Number(leftovers.rows[0]!.n)).toBe(0);
    await expect(conversations.get(alice, doomed.id)).rejects.toMatchObject({ code: "not_found" });
    expect((await conversations.get(alice, kept.id)).messages).toHaveLength(1);

    await conversations.create(bob, { title: "Bob keeps this" });
    expect(await conversations.removeAll(alice)).toBe(1);
    const remaining = await sql<{ n: number | string }>`select count(*) as n from web_messages`.execute(
      store.db,
    );
    expect(Number(remaining.rows[0]!.n)).toBe(0);
    expect(await conversations.list(bob)).toHaveLength(1);
  });
});
