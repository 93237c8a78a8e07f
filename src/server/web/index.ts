import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BastionError } from "../../core/errors.ts";
import type { Store } from "../../store/database.ts";
import { createConversationStore } from "../../webapp/conversation-store.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { registerConversationRoutes } from "./conversations-route.ts";
import { createIndexPage } from "./index-page.ts";
import { registerModelInfoRoute } from "./models-info-route.ts";
import { type Asset, createAssetCatalog, toAsset } from "./static-assets.ts";

export interface WebAppOptions {
  /** Where conversations are kept; without it the chat works but nothing is saved (and the API says so). */
  store?: Store;
  /** Shown in the title bar. */
  title?: string;
  /** Largest conversation write accepted, in bytes. Default 4 MiB. */
  maxBodyBytes?: number;
  /** The admin service: erasing a user (GDPR Art. 17) deletes their conversations too. */
  admin?: { onErase(hook: (user: { id: string; tenantId?: string }) => Promise<void> | void): void };
}

/** Optional APIs the app uses, by the route that reveals each one. */
const featureRoutes: Record<string, string> = {
  auth: "/auth/me",
  usage: "/admin/v1/usage",
  audit: "/admin/v1/audit",
  policies: "/admin/v1/policies",
  backends: "/admin/v1/backends",
  users: "/admin/v1/users",
  keys: "/admin/v1/keys",
};

function features(app: Hono<ServerEnv>): string[] {
  const paths = new Set(app.routes.map((route) => route.path));
  return Object.entries(featureRoutes)
    .filter(([, path]) => paths.has(path))
    .map(([name]) => name);
}

/** Headers on every page and asset: no sniffing, no framing, no referrer leaving the server. */
const baseHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

function sendAsset(c: Context<ServerEnv>, asset: Asset, cacheControl: string): Response {
  const headers: Record<string, string> = {
    ...baseHeaders,
    "content-type": asset.contentType,
    "cache-control": cacheControl,
    etag: asset.etag,
    vary: "accept-encoding",
  };
  if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, headers);
  const gzip = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "") && asset.gzip !== asset.body;
  const body = gzip ? asset.gzip : asset.body;
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = String(body.length);
  if (c.req.method === "HEAD") return c.body(null, 200, headers);
  return c.body(new Uint8Array(body), 200, headers);
}

/**
 * The web app: the chat and console page at `/`, its modules and the vendored libraries under
 * `/assets/`, and the chat's own API under `/app/api/`. Mounted by `createApp`; the auth
 * middleware in front of `/app/api/*` decides who the caller is.
 */
export function registerWebApp(
  app: Hono<ServerEnv>,
  deps: ServerDependencies,
  options: WebAppOptions = {},
): void {
  const catalog = createAssetCatalog();
  // Built on first request, once every module has mounted its routes: the page tells the app
  // which optional APIs this server has, so that it never calls one that is missing.
  let page: { csp: string; asset: Asset } | undefined;
  const pageFor = () => {
    if (page === undefined) {
      const built = createIndexPage(catalog, { title: options.title ?? "Bastion", features: features(app) });
      page = { csp: built.csp, asset: toAsset(Buffer.from(built.html), "index.html") };
    }
    return page;
  };
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;

  const servePage = (c: Context<ServerEnv>) => {
    const { csp, asset } = pageFor();
    c.header("content-security-policy", csp);
    // The page names the app's current version; it must be revalidated every time.
    return sendAsset(c, asset, "no-cache");
  };
  app.get("/", servePage);
  app.get("/index.html", servePage);
  app.get("/assets/*", (c) => {
    const asset = catalog.lookup(c.req.path);
    if (asset === undefined) throw new BastionError("not_found", `No asset at ${c.req.path.slice(0, 200)}.`);
    // Every asset URL carries a version (the app's hash or the package's version): cache for a year.
    return sendAsset(c, asset, "public, max-age=31536000, immutable");
  });

  app.use("/app/api/*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const type = (c.req.header("content-type") ?? "application/json").split(";")[0]!.trim().toLowerCase();
      if (c.req.method !== "DELETE" && type !== "application/json")
        throw new BastionError(
          "unsupported_media_type",
          `Content-Type '${type.slice(0, 100)}' is not supported; send 'application/json'.`,
        );
    }
    c.header("cache-control", "no-store");
    await next();
  });
  app.use(
    "/app/api/*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new BastionError(
          "payload_too_large",
          `The request body exceeds the limit of ${maxBodyBytes} bytes.`,
        );
      },
    }),
  );
  const conversations = options.store === undefined ? undefined : createConversationStore(options.store);
  if (conversations !== undefined && options.admin !== undefined) {
    options.admin.onErase(async (user) => {
      if (user.tenantId !== undefined)
        await conversations.removeAll({ tenantId: user.tenantId, ownerId: user.id });
    });
  }
  registerConversationRoutes(app, conversations);
  registerModelInfoRoute(app, deps);
}
