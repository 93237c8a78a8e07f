import type { Selectable } from "kysely";
import { z } from "zod";
import { type LimitSettings, limitSettingsSchema } from "../config/auth-config.ts";
import type { Role } from "../core/principal.ts";
import { displayPrefix } from "./api-keys.ts";
import type { ApiKeysTable, TenantsTable, UsersTable } from "./tables.ts";

/*
 * Tenants, users and keys as the admin API and the CLI show them (snake_case, as on the wire).
 * Secrets and password hashes never leave the repositories.
 */

export const roleSchema = z.enum(["admin", "member", "auditor"]);

/** What a key may use; an absent list means no restriction. Entries ending in `*` match by prefix. */
export const keyScopesSchema = z
  .object({
    models: z.array(z.string().min(1).max(200)).max(200).optional(),
    endpoints: z.array(z.string().min(1).max(200)).max(100).optional(),
    policies: z.array(z.string().min(1).max(200)).max(100).optional(),
  })
  .strict();

export type KeyScopes = z.infer<typeof keyScopesSchema>;

export interface TenantRecord {
  id: string;
  object: "tenant";
  name: string;
  policy: string | null;
  limits: LimitSettings;
  created_at: string;
  updated_at: string;
}

export interface UserRecord {
  id: string;
  object: "user";
  tenant_id: string;
  email: string | null;
  name: string | null;
  roles: Role[];
  disabled: boolean;
  has_password: boolean;
  created_at: string;
  updated_at: string;
}

export interface KeyRecord {
  id: string;
  object: "api_key";
  tenant_id: string;
  user_id: string | null;
  name: string;
  /** Visible start of the key, e.g. `bst_live_ab12cd34…`. */
  prefix: string;
  roles: Role[];
  scopes: KeyScopes;
  policy: string | null;
  limits: LimitSettings;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

/**
 * Parses a JSON column with its schema; a corrupt value reads as the empty default rather than
 * crashing a request. Parsed values are memoised by their text (a pure function of it), since
 * the same key's columns are read on every request.
 */
function parseColumn<T>(text: string, schema: z.ZodType<T>, fallback: T, memo: Map<string, T>): T {
  const known = memo.get(text);
  if (known !== undefined) return known;
  let value = fallback;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    if (parsed.success) value = parsed.data;
  } catch {}
  if (memo.size >= 1000) memo.clear();
  memo.set(text, value);
  return value;
}

const rolesMemo = new Map<string, Role[]>();
const limitsMemo = new Map<string, LimitSettings>();
const scopesMemo = new Map<string, KeyScopes>();

// Built once: a zod schema is costly to construct, and these run on every request.
const rolesSchema = z.array(roleSchema);
export const parseRoles = (text: string): Role[] => parseColumn(text, rolesSchema, [], rolesMemo);
export const parseLimits = (text: string): LimitSettings =>
  parseColumn(text, limitSettingsSchema, {}, limitsMemo);
export const parseScopes = (text: string): KeyScopes => parseColumn(text, keyScopesSchema, {}, scopesMemo);

export function toTenantRecord(row: TenantsTable): TenantRecord {
  return {
    id: row.id,
    object: "tenant",
    name: row.name,
    policy: row.policy,
    limits: parseLimits(row.limits),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function toUserRecord(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    object: "user",
    tenant_id: row.tenant_id,
    email: row.email,
    name: row.name,
    roles: parseRoles(row.roles),
    disabled: Number(row.disabled) !== 0,
    has_password: row.password_hash !== null,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function toKeyRecord(row: ApiKeysTable): KeyRecord {
  return {
    id: row.id,
    object: "api_key",
    tenant_id: row.tenant_id,
    user_id: row.user_id,
    name: row.name,
    prefix: displayPrefix(row.prefix),
    roles: parseRoles(row.roles),
    scopes: parseScopes(row.scopes),
    policy: row.policy,
    limits: parseLimits(row.limits),
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    last_used_at: row.last_used_at,
    created_at: row.created_at,
  };
}
