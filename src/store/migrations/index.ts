import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";

/**
 * Every migration, by name. Names sort in the order they apply (`NNNN_module_what`) and never
 * change once released; a module adds its migration file and one line here.
 */
export function migrations(_dialect: StoreDialect): Record<string, Migration> {
  return {};
}
