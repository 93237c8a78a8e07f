import type { ChatMessage } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import type { Store } from "../store/database.ts";
import { nowSeconds, parseJson } from "./ids.ts";

/** Responses kept for `previous_response_id` and `GET /v1/responses/{id}`, per tenant. */
export interface StoredResponses {
  save(tenantId: string, id: string, body: object, history: ChatMessage[]): Promise<void>;
  get(tenantId: string, id: string): Promise<{ body: Record<string, unknown>; history: ChatMessage[] }>;
  delete(tenantId: string, id: string): Promise<void>;
}

export function createStoredResponses(store: Store): StoredResponses {
  return {
    async save(tenantId, id, body, history) {
      await store.db
        .insertInto("stored_responses")
        .values({
          id,
          tenant_id: tenantId,
          created_at: nowSeconds(),
          body: JSON.stringify(body),
          history: JSON.stringify(history),
        })
        .execute();
    },
    async get(tenantId, id) {
      const row = await store.db
        .selectFrom("stored_responses")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .executeTakeFirst();
      if (row === undefined)
        throw new BastionError(
          "not_found",
          `No response found with id '${id.slice(0, 100)}' (it may not have been stored: 'store' was false).`,
          {
            param: "previous_response_id",
          },
        );
      return {
        body: parseJson<Record<string, unknown>>(row.body, {}),
        history: parseJson<ChatMessage[]>(row.history, []),
      };
    },
    async delete(tenantId, id) {
      const result = await store.db
        .deleteFrom("stored_responses")
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0)
        throw new BastionError("not_found", `No response found with id '${id.slice(0, 100)}'.`);
    },
  };
}
