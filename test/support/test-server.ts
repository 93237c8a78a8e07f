import { type BastionConfig, configSchema } from "../../src/config/config.ts";
import { syntheticTestModel } from "../../src/models/testing.ts";
import { createPlatform, type Platform } from "../../src/platform.ts";
import { createApp } from "../../src/server/app.ts";
import { startServer } from "../../src/server/testing/start-server.ts";

/** Synthetic fixtures live in a git-ignored cache inside the checkout and are built once. */
export const syntheticModelPath = syntheticTestModel;

export interface TestModel {
  id: string;
  preset: string;
  aliases?: string[];
  parallel?: number;
  contextSize?: number;
  maxQueue?: number;
}

export interface TestServer {
  baseUrl: string;
  platform: Platform;
  close(): Promise<void>;
}

/** A real Bastion server on 127.0.0.1 and an ephemeral port, serving synthetic models. */
export async function startTestServer(options: {
  models: TestModel[];
  threads?: number;
  memoryBudgetBytes?: number;
  idleUnloadSeconds?: number;
  maxBodyBytes?: number;
}): Promise<TestServer> {
  const entries: BastionConfig["models"]["entries"] = [];
  for (const model of options.models) {
    entries.push({
      id: model.id,
      path: await syntheticModelPath(model.preset),
      aliases: model.aliases ?? [],
      ...(model.parallel === undefined ? {} : { parallel: model.parallel }),
      ...(model.contextSize === undefined ? {} : { contextSize: model.contextSize }),
      ...(model.maxQueue === undefined ? {} : { maxQueue: model.maxQueue }),
    });
  }
  const config = configSchema.parse({
    // A throwaway store: tests must not touch the user's data directory.
    database: { sqlitePath: ":memory:" },
    server: {
      port: 0,
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    },
    engine: { threads: options.threads ?? 1, gpu: false },
    models: {
      entries,
      contextSize: 2048,
      idleUnloadSeconds: options.idleUnloadSeconds ?? 0,
      ...(options.memoryBudgetBytes === undefined ? {} : { memoryBudget: options.memoryBudgetBytes }),
    },
  });
  const platform = await createPlatform(config);
  const app = createApp({ registry: platform.registry, maxBodyBytes: config.server.maxBodyBytes });
  const server = await startServer(app);
  return {
    baseUrl: server.url,
    platform,
    async close() {
      await server.close();
      await platform.dispose();
    },
  };
}
