import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultApiKey } from "./api-key.ts";

describe("defaultApiKey", () => {
  it("takes BASTION_API_KEY, else the admin key the first start saved, else nothing", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bastion-api-key-"));
    try {
      expect(defaultApiKey({ BASTION_DATA_DIR: dataDir })).toBeUndefined();
      await writeFile(join(dataDir, "admin-key"), "bst_live_abcdefgh_saved\n", { mode: 0o600 });
      expect(defaultApiKey({ BASTION_DATA_DIR: dataDir })).toBe("bst_live_abcdefgh_saved");
      expect(defaultApiKey({ BASTION_DATA_DIR: dataDir, BASTION_API_KEY: "explicit" })).toBe("explicit");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
