/** `web_conversations`: one chat of one user. */
export interface WebConversationTable {
  id: string;
  tenant_id: string;
  owner_id: string;
  title: string;
  model: string | null;
  active_leaf_id: string | null;
  created_at: number;
  updated_at: number;
}

/** `web_messages`: one turn; `parent_id` links it into the conversation's tree of branches. */
export interface WebMessageTable {
  id: string;
  conversation_id: string;
  parent_id: string | null;
  role: string;
  content: string;
  reasoning: string | null;
  model: string | null;
  /** JSON: the answer's data passport (evidence, usage, timings). */
  meta: string | null;
  created_at: number;
}

/** The web app's tables, added to the store's `Database` interface. */
export interface WebappTables {
  web_conversations: WebConversationTable;
  web_messages: WebMessageTable;
}
