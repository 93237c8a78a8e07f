import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** One file ready to send: raw and gzipped bytes, its type and a strong ETag. */
export interface Asset {
  body: Buffer;
  gzip: Buffer;
  contentType: string;
  etag: string;
}

const contentTypes: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".json": "application/json",
  ".html": "text/html; charset=utf-8",
};

/** Fonts and images are already compressed; gzipping them again only costs CPU. */
const precompressed = new Set([".woff2", ".woff", ".png"]);

/** An asset from bytes, typed by the file name's extension. */
export function toAsset(body: Buffer, path: string): Asset {
  const extension = extname(path);
  return {
    body,
    gzip: precompressed.has(extension) ? body : gzipSync(body, { level: 9 }),
    contentType: contentTypes[extension] ?? "application/octet-stream",
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

/**
 * The browser libraries the app uses, served straight from `node_modules` (no CDN, no build).
 * Only the files matched here are reachable; the URL carries the package version so that the
 * files can be cached for a year.
 */
const vendorFiles: Record<string, RegExp> = {
  preact: /^(dist\/preact\.mjs|hooks\/dist\/hooks\.mjs)$/,
  htm: /^(dist\/htm\.module\.js|preact\/index\.module\.js)$/,
  marked: /^lib\/marked\.esm\.js$/,
  dompurify: /^dist\/purify\.es\.mjs$/,
  "highlight.js": /^lib\/(core|languages\/[a-z0-9-]+)\.js$/,
  katex: /^dist\/(katex\.mjs|katex\.min\.css|fonts\/KaTeX_[A-Za-z0-9_-]+\.woff2)$/,
  uplot: /^dist\/(uPlot\.esm\.js|uPlot\.min\.css)$/,
};

/** highlight.js ships its core and languages as CommonJS only; a one-line wrapper makes them ES modules. */
const commonJsFiles = /^highlight\.js\/lib\//;

export interface VendorPackage {
  name: string;
  version: string;
  dir: string;
  /** URL prefix, e.g. `/assets/vendor/preact@11.2.0/`. */
  prefix: string;
}

function findPackageDir(name: string): string {
  // Walk up from this file as Node's resolver does, without going through `exports` (which hides files we serve).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "node_modules", name, "package.json");
    if (existsSync(candidate)) return dirname(candidate);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`The web app needs the npm package "${name}"; run npm ci.`);
    dir = parent;
  }
}

/** Where each vendored package lives and the URL it is served under. */
export function vendorPackages(): Map<string, VendorPackage> {
  const packages = new Map<string, VendorPackage>();
  for (const name of Object.keys(vendorFiles)) {
    const dir = findPackageDir(name);
    const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string };
    packages.set(name, { name, version, dir, prefix: `/assets/vendor/${name}@${version}/` });
  }
  return packages;
}

/** The folder of the app's own modules and styles (`web/app` at the package root). */
export function appDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "web", "app");
    if (existsSync(join(candidate, "main.js"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("The web app's files (web/app) are missing from this installation.");
    dir = parent;
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

export interface AssetCatalog {
  /** A short hash of every app file: part of the app's URLs, so a new version is never served from cache. */
  appVersion: string;
  appPrefix: string;
  vendor: Map<string, VendorPackage>;
  /** The asset at a URL path, or undefined when the path is not one we serve. */
  lookup(path: string): Asset | undefined;
}

/**
 * Everything the web app serves, read once: the app's files into memory at start (they are few
 * and small), vendor files on first request. Both are gzipped once and kept.
 */
export function createAssetCatalog(options: { appDir?: string } = {}): AssetCatalog {
  const root = options.appDir ?? appDir();
  const vendor = vendorPackages();
  const appFiles = new Map<string, Buffer>();
  const versionHash = createHash("sha256");
  for (const file of listFiles(root)) {
    const name = relative(root, file).split(sep).join("/");
    const body = readFileSync(file);
    appFiles.set(name, body);
    versionHash.update(name).update(body);
  }
  const appVersion = versionHash.digest("hex").slice(0, 12);
  const appPrefix = `/assets/app/${appVersion}/`;
  const cache = new Map<string, Asset>();

  function loadVendor(path: string): Asset | undefined {
    const rest = path.slice("/assets/vendor/".length);
    const at = rest.indexOf("@", 1);
    const slash = rest.indexOf("/", at);
    if (at < 0 || slash < 0) return undefined;
    const pkg = vendor.get(rest.slice(0, at));
    if (pkg === undefined || rest.slice(at + 1, slash) !== pkg.version) return undefined;
    const file = rest.slice(slash + 1);
    if (!vendorFiles[pkg.name]!.test(file)) return undefined;
    const full = resolve(pkg.dir, file);
    if (!full.startsWith(pkg.dir + sep) || !existsSync(full) || !statSync(full).isFile()) return undefined;
    let body = readFileSync(full);
    if (commonJsFiles.test(`${pkg.name}/${file}`)) {
      body = Buffer.from(
        `const module = { exports: {} };\n${body.toString("utf8")}\nexport default module.exports;\n`,
      );
    }
    return toAsset(body, file);
  }

  return {
    appVersion,
    appPrefix,
    vendor,
    lookup(path) {
      const cached = cache.get(path);
      if (cached !== undefined) return cached;
      let asset: Asset | undefined;
      if (path.startsWith(appPrefix)) {
        const name = path.slice(appPrefix.length);
        const body = appFiles.get(name);
        if (body !== undefined) asset = toAsset(body, name);
      } else if (path.startsWith("/assets/vendor/")) {
        asset = loadVendor(path);
      }
      if (asset !== undefined) cache.set(path, asset);
      return asset;
    },
  };
}
