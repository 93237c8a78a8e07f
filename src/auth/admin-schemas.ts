import { z } from "zod";
import { limitSettingsSchema } from "../config/auth-config.ts";
import { keyScopesSchema, roleSchema } from "./records.ts";

/* Request bodies of the admin API (and so of the CLI, which speaks the same API). */

const tenantId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, "lower-case letters, digits, '-' and '_'");
const policyName = z.string().min(1).max(200).nullable();
const email = z
  .string()
  .max(320)
  .regex(/^[^\s@]+@[^\s@]+$/, "an email address")
  .transform((value) => value.toLowerCase());
const password = z.string().min(8, "at least 8 characters").max(1024);
const roles = z.array(roleSchema).min(1).max(3);
const timestamp = z.iso.datetime({ offset: true });

export const tenantCreateSchema = z
  .object({
    id: tenantId.optional(),
    name: z.string().min(1).max(200),
    policy: policyName.optional(),
    limits: limitSettingsSchema.optional(),
  })
  .strict();

export const tenantUpdateSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    policy: policyName.optional(),
    limits: limitSettingsSchema.optional(),
  })
  .strict();

export const userCreateSchema = z
  .object({
    tenant_id: tenantId.optional(),
    email,
    name: z.string().min(1).max(200).optional(),
    password: password.optional(),
    roles: roles.default(["member"]),
  })
  .strict();

export const userUpdateSchema = z
  .object({
    email: email.optional(),
    name: z.string().min(1).max(200).nullable().optional(),
    password: password.nullable().optional(),
    roles: roles.optional(),
    disabled: z.boolean().optional(),
  })
  .strict();

export const keyCreateSchema = z
  .object({
    tenant_id: tenantId.optional(),
    user_id: z.string().min(1).max(100).nullable().optional(),
    name: z.string().min(1).max(200),
    roles: roles.optional(),
    scopes: keyScopesSchema.optional(),
    policy: policyName.optional(),
    limits: limitSettingsSchema.optional(),
    expires_at: timestamp.nullable().optional(),
  })
  .strict();

export const keyUpdateSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    scopes: keyScopesSchema.optional(),
    policy: policyName.optional(),
    limits: limitSettingsSchema.optional(),
    expires_at: timestamp.nullable().optional(),
  })
  .strict();

export type TenantCreate = z.input<typeof tenantCreateSchema>;
export type UserCreate = z.input<typeof userCreateSchema>;
export type KeyCreate = z.input<typeof keyCreateSchema>;
