import type { ColumnType } from "kysely";

/*
 * The identity tables (migration 0001_identity). Timestamps are ISO-8601 text so that SQLite and
 * PostgreSQL compare them the same way; JSON columns are text for the same reason.
 */

export interface TenantsTable {
  id: string;
  name: string;
  /** Named policy for the tenant's requests; null = the config default. */
  policy: string | null;
  /** JSON `LimitSettings`. */
  limits: string;
  created_at: string;
  updated_at: string;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  /** Lower-cased; null once erased (GDPR Art. 17). */
  email: string | null;
  name: string | null;
  /** argon2id PHC string; null = password sign-in disabled. */
  password_hash: string | null;
  /** JSON array of roles. */
  roles: string;
  disabled: ColumnType<number, number | undefined, number>;
  created_at: string;
  updated_at: string;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  user_id: string | null;
  name: string;
  /** The visible part, unique: `bst_live_<prefix>_…`. */
  prefix: string;
  /** SHA-256 (hex) of the whole key. */
  hash: string;
  /** JSON array of roles (a user's key is bounded by the user's current roles). */
  roles: string;
  /** JSON `KeyScopes`. */
  scopes: string;
  policy: string | null;
  /** JSON `LimitSettings`. */
  limits: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the cookie value; the value itself is never stored. */
  id: string;
  tenant_id: string;
  user_id: string | null;
  key_id: string | null;
  csrf_token: string;
  created_at: string;
  expires_at: string;
}

/** Month-to-date spend and open reservations per budget scope (`key:<id>` or `tenant:<id>`). */
export interface BudgetLedgerTable {
  scope: string;
  /** `YYYY-MM` (UTC). */
  month: string;
  spent_eur: number;
  reserved_eur: number;
}

/** What one instance holds reserved in the ledger per scope and month, until `expires_at` (ms). */
export interface BudgetHoldsTable {
  scope: string;
  month: string;
  owner: string;
  amount: number;
  expires_at: number | string;
}

/** The identity tables, merged into the store's `Database`. */
export interface IdentityTables {
  tenants: TenantsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  budget_ledger: BudgetLedgerTable;
  budget_holds: BudgetHoldsTable;
}
