import type { ConversationMessage, ConversationWithMessages } from "./conversation-store.ts";

/** The messages of the branch that ends at `leafId` (the one shown), oldest first. */
export function activeBranch(conversation: ConversationWithMessages): ConversationMessage[] {
  const byId = new Map(conversation.messages.map((message) => [message.id, message]));
  const leafId = conversation.activeLeafId ?? conversation.messages.at(-1)?.id;
  const branch: ConversationMessage[] = [];
  let cursor = leafId === undefined ? undefined : byId.get(leafId);
  // A guard against cycles a hand-edited database could hold.
  while (cursor !== undefined && branch.length <= conversation.messages.length) {
    branch.push(cursor);
    cursor = cursor.parentId === null ? undefined : byId.get(cursor.parentId);
  }
  return branch.reverse();
}

const roleTitles: Record<string, string> = { user: "You", assistant: "Assistant", system: "System" };

/** The shown branch as a Markdown document: one heading per turn, the answer's passport as a note. */
export function conversationToMarkdown(conversation: ConversationWithMessages): string {
  const lines = [`# ${conversation.title}`, "", `_Exported from Bastion on ${new Date().toISOString()}_`, ""];
  for (const message of activeBranch(conversation)) {
    const model = message.model === null ? "" : ` (${message.model})`;
    lines.push(`## ${roleTitles[message.role] ?? message.role}${model}`, "");
    if (message.reasoning !== null && message.reasoning !== "") {
      lines.push("<details><summary>Reasoning</summary>", "", message.reasoning, "", "</details>", "");
    }
    lines.push(message.content, "");
    // The web app keeps the answer's evidence under `meta.passport`; other writers may put it at the top.
    const meta = (message.meta?.passport ?? message.meta) as {
      backend?: string;
      jurisdiction?: { country?: string };
      policy?: { summary?: string };
    } | null;
    if (meta?.backend !== undefined) {
      const where = meta.jurisdiction?.country === undefined ? "" : `, ${meta.jurisdiction.country}`;
      const policy = meta.policy?.summary === undefined ? "" : `; policy: ${meta.policy.summary}`;
      lines.push(`> Computed by ${meta.backend}${where}${policy}`, "");
    }
  }
  return `${lines.join("\n").trimEnd()}\n`;
}
