import { BastionError } from "../core/errors.ts";

export interface ListParams {
  limit?: number;
  order?: "asc" | "desc";
  after?: string;
  before?: string;
}

export interface ListPage<T> {
  object: "list";
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** OpenAI's cursor pagination over items already ordered by creation (oldest first). */
export function paginate<T extends { id: string }>(
  items: T[],
  params: ListParams,
  maxLimit = 100,
): ListPage<T> {
  const limit = params.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit)
    throw new BastionError("invalid_request", `'limit' must be a whole number from 1 to ${maxLimit}.`, {
      param: "limit",
    });
  let ordered = params.order === "asc" ? items : [...items].reverse();
  if (params.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === params.after);
    ordered = at < 0 ? [] : ordered.slice(at + 1);
  }
  if (params.before !== undefined) {
    const at = ordered.findIndex((item) => item.id === params.before);
    ordered = at < 0 ? [] : ordered.slice(Math.max(0, at - limit), at);
  }
  const data = ordered.slice(0, limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: ordered.length > data.length,
  };
}
