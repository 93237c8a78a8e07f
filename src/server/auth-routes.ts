import type { Context, Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import type { AuthContext } from "../auth/authenticator.ts";
import { type Auth, authContextOf, clientAddress, readCredential, sessionCookie } from "../auth/index.ts";
import { BastionError } from "../core/errors.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { registerAdminApi } from "./admin/index.ts";
import { readJsonBody } from "./read-json-body.ts";
import type { ServerEnv } from "./server-env.ts";

const loginSchema = z.union([
  z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) }).strict(),
  z.object({ apiKey: z.string().min(1).max(300) }).strict(),
]);

/** Paths behind the auth middleware; `/health`, `/ready`, `/auth/*` and the web app's assets stay open. */
export const protectedPaths = ["/v1/*", "/api/*", "/admin/*", "/app/api/*", "/metrics"] as const;

/**
 * Mounts the control plane on the app: the auth middleware on every protected path, the web
 * sign-in routes under `/auth/`, and the admin API under `/admin/v1/`.
 */
export function installAuth(app: Hono<ServerEnv>, auth: Auth): void {
  for (const path of protectedPaths) app.use(path, auth.middleware);
  registerAuthRoutes(app, auth);
  registerAdminApi(app, auth);
}

function userView(context: AuthContext) {
  return {
    id: context.user?.id ?? null,
    email: context.user?.email ?? null,
    name: context.user?.name ?? context.keyName ?? null,
    tenantId: context.principal.tenantId,
    roles: context.principal.roles,
  };
}

/** `POST /auth/login`, `POST /auth/logout`, `GET /auth/me` (see docs/PLATFORM-API.md). */
export function registerAuthRoutes(app: Hono<ServerEnv>, auth: Auth): void {
  const settings = auth.settings.auth;
  const secure = (c: Context) =>
    settings.secureCookies === "always" ||
    (settings.secureCookies === "auto" &&
      (new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https"));

  app.post("/auth/login", async (c) => {
    if (!auth.enabled)
      throw new BastionError(
        "invalid_request",
        "Auth is turned off on this server; there is nothing to sign in to.",
      );
    // JSON only: a cross-site form cannot send it without a CORS preflight, which keeps
    // login CSRF (signing a victim into the attacker's account) out.
    const mime = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (mime !== "application/json") {
      throw new BastionError(
        "unsupported_media_type",
        "Send the sign-in as JSON (Content-Type: application/json).",
      );
    }
    const input = loginSchema.parse(await readJsonBody(c));
    const address = clientAddress(c, settings.trustProxy);
    const email = "email" in input ? input.email.toLowerCase() : undefined;
    const { byEmail, byAddress } = auth.loginFailures;
    const [perAddress, perEmail] = await Promise.all([
      byAddress.get(address),
      email === undefined ? undefined : byEmail.get(email),
    ]);
    const blocked =
      perAddress.count >= settings.loginFailuresPerIp
        ? perAddress
        : perEmail !== undefined && perEmail.count >= settings.loginFailuresPerEmail
          ? perEmail
          : undefined;
    if (blocked !== undefined) {
      throw new BastionError(
        "rate_limited",
        `Too many failed sign-ins. Try again in ${Math.ceil(blocked.resetMs / 60_000)} minute(s).`,
        { retryAfterSeconds: blocked.resetMs / 1000 },
      );
    }
    let context: AuthContext | undefined;
    let owner: { tenantId: string; userId?: string; keyId?: string } | undefined;
    if ("apiKey" in input) {
      context = await auth.authenticator.fromKey(input.apiKey).catch(() => undefined);
      if (context?.via === "bootstrap") {
        throw new BastionError(
          "invalid_request",
          "BASTION_ADMIN_KEY is for API calls and cannot open a web session: sign in with a user (`bastion users create <email> --role admin --password-stdin`) or a stored key.",
        );
      }
      if (context !== undefined && context.via === "key" && context.principal.keyId !== undefined) {
        owner = { tenantId: context.principal.tenantId, keyId: context.principal.keyId };
      } else context = undefined;
    } else {
      const user = await auth.authenticator.checkPassword(input.email, input.password);
      if (user !== undefined) owner = user;
    }
    if (owner === undefined) {
      await Promise.all([byAddress.add(address, 1), email === undefined ? undefined : byEmail.add(email, 1)]);
      throw new BastionError(
        "unauthorized",
        "apiKey" in input ? "Invalid API key." : "Wrong email or password.",
      );
    }
    if (email !== undefined) await byEmail.clear(email);
    const session = await auth.authenticator.createSession(owner, settings.sessionHours);
    context = await auth.authenticator.fromSession(session.token);
    setCookie(c, sessionCookie, session.token, {
      httpOnly: true,
      sameSite: "Lax",
      secure: secure(c),
      path: "/",
      maxAge: Math.round(settings.sessionHours * 3600),
    });
    c.header("Cache-Control", "no-store");
    return c.json({ user: userView(context), csrfToken: session.csrfToken });
  });

  app.post("/auth/logout", async (c) => {
    const credential = readCredential(c);
    if (credential?.kind === "session") {
      const context = await auth.authenticator.fromSession(credential.value).catch(() => undefined);
      if (context?.session !== undefined && c.req.header("x-csrf-token") !== context.session.csrfToken) {
        throw new BastionError("forbidden", "Missing or wrong x-csrf-token header.");
      }
      await auth.authenticator.deleteSession(credential.value);
    }
    deleteCookie(c, sessionCookie, { path: "/", secure: secure(c) });
    return c.json({ ok: true });
  });

  app.get("/auth/me", async (c) => {
    c.header("Cache-Control", "no-store");
    if (!auth.enabled) {
      // Auth off (loopback only): the web app runs as the anonymous admin, with nothing to sign in to.
      const { tenantId, roles } = anonymousPrincipal;
      return c.json({ user: { id: null, email: null, name: "anonymous", tenantId, roles }, csrfToken: null });
    }
    let context = authContextOf(c);
    if (context === undefined) {
      const credential = readCredential(c);
      if (credential === undefined) throw new BastionError("unauthorized", "Not signed in.");
      context =
        credential.kind === "key"
          ? await auth.authenticator.fromKey(credential.value)
          : await auth.authenticator.fromSession(credential.value);
    }
    c.header("Cache-Control", "no-store");
    return c.json({ user: userView(context), csrfToken: context.session?.csrfToken ?? null });
  });
}
