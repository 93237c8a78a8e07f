import { createHash } from "node:crypto";
import type { AssetCatalog } from "./static-assets.ts";

/** highlight.js languages loaded with the chat: the ones people paste most. Others stay plain text. */
export const highlightLanguages = [
  "bash",
  "css",
  "java",
  "javascript",
  "json",
  "python",
  "sql",
  "typescript",
  "xml",
  "yaml",
];

/** App modules the chat needs on first load; the console and maths load on demand. */
const firstLoadAppModules = [
  "main.js",
  "api.js",
  "i18n.js",
  "signin.js",
  "chat.js",
  "markdown.js",
  "stream.js",
  "passport.js",
];

export interface IndexPage {
  html: string;
  /** The Content-Security-Policy: scripts from this origin only, plus the one import map by hash. */
  csp: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * The single HTML page of the app. Bare module names resolve through an import map to the
 * vendored files; the import map is the page's only inline script, allowed by its SHA-256 in
 * the CSP (`script-src 'self' 'sha256-…'`), so no other inline script can run.
 */
export function createIndexPage(
  catalog: AssetCatalog,
  options: { title: string; features: string[] },
): IndexPage {
  const vendor = (name: string, file: string): string => `${catalog.vendor.get(name)!.prefix}${file}`;
  const imports: Record<string, string> = {
    preact: vendor("preact", "dist/preact.mjs"),
    "preact/hooks": vendor("preact", "hooks/dist/hooks.mjs"),
    htm: vendor("htm", "dist/htm.module.js"),
    "htm/preact": vendor("htm", "preact/index.module.js"),
    marked: vendor("marked", "lib/marked.esm.js"),
    dompurify: vendor("dompurify", "dist/purify.es.mjs"),
    "highlight.js/core": vendor("highlight.js", "lib/core.js"),
    "highlight.js/languages/": vendor("highlight.js", "lib/languages/"),
    katex: vendor("katex", "dist/katex.mjs"),
    uplot: vendor("uplot", "dist/uPlot.esm.js"),
  };
  const importMap = JSON.stringify({ imports });
  const hash = createHash("sha256").update(importMap).digest("base64");
  const preload = [
    ...["preact", "preact/hooks", "htm", "htm/preact", "marked", "dompurify", "highlight.js/core"].map(
      (name) => imports[name]!,
    ),
    ...highlightLanguages.map((language) => `${imports["highlight.js/languages/"]}${language}.js`),
    ...firstLoadAppModules.map((file) => `${catalog.appPrefix}${file}`),
  ];
  const title = escapeHtml(options.title);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="bastion-title" content="${title}">
<meta name="bastion-languages" content="${highlightLanguages.join(",")}">
<meta name="bastion-features" content="${escapeHtml(options.features.join(","))}">
<title>${title}</title>
<link rel="icon" href="${catalog.appPrefix}favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${catalog.appPrefix}styles.css">
<script type="importmap">${importMap}</script>
${preload.map((href) => `<link rel="modulepreload" href="${href}">`).join("\n")}
<script type="module" src="${catalog.appPrefix}main.js"></script>
</head>
<body>
<div id="app"><p class="boot">${title}…</p></div>
<noscript>${title} needs JavaScript.</noscript>
</body>
</html>
`;
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    // KaTeX positions glyphs with style attributes; styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}
