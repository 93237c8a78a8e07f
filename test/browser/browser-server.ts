import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { type BastionConfig, configSchema } from "../../src/config/config.ts";
import { createPlatform, type Platform } from "../../src/platform.ts";
import { createApp } from "../../src/server/app.ts";
import { openStore, type Store } from "../../src/store/database.ts";
import { syntheticModelPath, type TestModel } from "../support/test-server.ts";

export interface BrowserServer {
  baseUrl: string;
  platform: Platform;
  store: Store;
  close(): Promise<void>;
}

/**
 * A real Bastion for the browser tests: synthetic models, a fresh SQLite store, the web app
 * at `/`, on 127.0.0.1 and an ephemeral port.
 */
export async function startBrowserServer(options: { models: TestModel[] }): Promise<BrowserServer> {
  const entries: BastionConfig["models"]["entries"] = [];
  for (const model of options.models) {
    entries.push({
      id: model.id,
      path: await syntheticModelPath(model.preset),
      aliases: model.aliases ?? [],
      ...(model.parallel === undefined ? {} : { parallel: model.parallel }),
    });
  }
  const config = configSchema.parse({
    server: { port: 0 },
    engine: { threads: 1, gpu: false },
    models: { entries, contextSize: 2048, idleUnloadSeconds: 0 },
  });
  const platform = await createPlatform(config);
  const store = await openStore({ sqlitePath: ":memory:" });
  const app = createApp({ registry: platform.registry, web: { store } });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    platform,
    store,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
      await platform.dispose();
      await store.destroy();
    },
  };
}
