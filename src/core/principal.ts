/** Roles a user or key can hold. `auditor` reads usage and audit, nothing else. */
export type Role = "admin" | "member" | "auditor";

/**
 * Who is making a request, as the auth layer resolved it from an API key or a session. Everything
 * downstream (policy, routing, limits, metering, audit) reads this and never the raw credential.
 */
export interface Principal {
  tenantId: string;
  /** The user behind the key or session; absent for a tenant-level service key. */
  userId?: string;
  /** The API key used, by id (never the secret); absent for a web session. */
  keyId?: string;
  roles: Role[];
  /** Named policy that applies (key's, else tenant's); absent means the config's default. */
  policy?: string;
  /** Model ids or aliases this principal may use; absent means all. */
  models?: string[];
}

/** The principal used when auth is explicitly turned off (loopback only). */
export const anonymousPrincipal: Principal = {
  tenantId: "default",
  roles: ["admin"],
};
