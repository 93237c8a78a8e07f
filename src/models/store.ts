import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { modelsDir as defaultModelsDir } from "../config/paths.ts";
import { BastionError } from "../core/errors.ts";
import type { ChatTemplateFamily } from "../core/gguf-names.ts";
import { inspectModelFile } from "../engine/model-info.ts";
import type { CatalogLicence, CatalogPublisher } from "./catalog.ts";

export const MANIFEST_FILE = "manifest.json";

export interface ManifestFile {
  /** File name inside the model folder. */
  name: string;
  size: number;
  sha256: string;
  /** Whether sha256 matched one published by the source (false: computed locally only). */
  verified: boolean;
  url?: string;
}

/** `<modelsDir>/<id>/manifest.json`: written last, atomically, so a folder without one is not a model. */
export interface ModelManifest {
  schemaVersion: 1;
  id: string;
  /** The reference the user pulled (`hf:...`, catalog name, URL). */
  source: string;
  /** Hub repository and revision, when it came from one. */
  repo?: { endpoint: string; id: string; revision: string; commit?: string };
  files: ManifestFile[];
  licence?: CatalogLicence | { id: string; url?: string };
  publisher?: CatalogPublisher | { name: string };
  packager?: string;
  catalogName?: string;
  downloadedAt: string;
}

export interface StoreOptions {
  /** Default: `modelsDir()` (honours BASTION_DATA_DIR). */
  modelsDir?: string;
}

export interface StoredModel {
  id: string;
  dir: string;
  manifest: ModelManifest;
  /** Absolute paths of the GGUF files, first part first. */
  files: string[];
  sizeOnDisk: number;
}

export interface ModelInfo extends StoredModel {
  architecture: string | undefined;
  /** Sum of tensor element counts over all parts. */
  parameterCount: number;
  /** `general.size_label` if present (e.g. "1.5B"), else derived from parameterCount. */
  parameterLabel: string;
  /** From `general.file_type` (llama_ftype), e.g. "Q4_K_M". */
  quantisation: string | undefined;
  contextLength: number | undefined;
  embeddingLength: number | undefined;
  chatTemplateFamily: ChatTemplateFamily;
  /** `general.name` from the GGUF. */
  name: string | undefined;
}

export type { ChatTemplateFamily } from "../core/gguf-names.ts";

const idPattern = /^[a-z0-9][a-z0-9._-]*$/;

function storeDir(options: StoreOptions): string {
  return options.modelsDir ?? defaultModelsDir();
}

/** Throws unless `id` is a plain store id (no path separators, no `..`). */
export function assertModelId(id: string): void {
  if (!idPattern.test(id) || id.includes("..")) {
    throw new BastionError(
      "invalid_request",
      `"${id}" is not a model id (lower-case letters, digits, ".", "_", "-").`,
    );
  }
}

/** Writes JSON next to the target and renames it over, so readers see the old or the new file, never half. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`);
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export async function readManifest(dir: string): Promise<ModelManifest | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch {
    return undefined;
  }
  try {
    const manifest = JSON.parse(text) as ModelManifest;
    return typeof manifest.id === "string" && Array.isArray(manifest.files) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

async function loadStored(dir: string, manifest: ModelManifest): Promise<StoredModel> {
  const files = manifest.files.map((file) => join(dir, file.name));
  let sizeOnDisk = 0;
  for (const path of files) sizeOnDisk += (await stat(path).catch(() => undefined))?.size ?? 0;
  return { id: manifest.id, dir, manifest, files, sizeOnDisk };
}

/** Every model in the store (folders with a manifest), sorted by id. */
export async function listModels(options: StoreOptions = {}): Promise<StoredModel[]> {
  const root = storeDir(options);
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return [];
  }
  const models: StoredModel[] = [];
  for (const entry of entries.sort()) {
    if (!idPattern.test(entry)) continue;
    const dir = join(root, entry);
    const manifest = await readManifest(dir);
    if (manifest !== undefined) models.push(await loadStored(dir, manifest));
  }
  return models;
}

function notFound(what: string, known: string[]): BastionError {
  const list = known.length === 0 ? "The store is empty." : `In the store: ${known.join(", ")}.`;
  return new BastionError(
    "model_not_found",
    `Model "${what}" is not in the store. ${list} Pull it with \`bastion pull ${what}\`.`,
  );
}

/** One stored model by id. @throws BastionError model_not_found */
export async function getModel(id: string, options: StoreOptions = {}): Promise<StoredModel> {
  if (idPattern.test(id) && !id.includes("..")) {
    const dir = join(storeDir(options), id);
    const manifest = await readManifest(dir);
    if (manifest !== undefined) return loadStored(dir, manifest);
  }
  throw notFound(
    id,
    (await listModels(options)).map((m) => m.id),
  );
}

/**
 * The GGUF path to load for a store id, a model folder, or a `.gguf` path (split sets: the first part,
 * from which llama.cpp finds the others). @throws BastionError model_not_found
 */
export async function resolveModel(idOrPath: string, options: StoreOptions = {}): Promise<string> {
  const looksLikePath =
    isAbsolute(idOrPath) || idOrPath.startsWith(".") || idOrPath.includes("/") || idOrPath.endsWith(".gguf");
  if (looksLikePath) {
    const path = resolve(idOrPath);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile()) return path;
    if (info?.isDirectory()) {
      const manifest = await readManifest(path);
      const first = manifest?.files[0];
      if (first !== undefined) return join(path, first.name);
    }
    if (!idPattern.test(idOrPath)) throw new BastionError("model_not_found", `No GGUF file at ${path}.`);
  }
  const model = await getModel(idOrPath, options);
  const first = model.files[0];
  if (first === undefined) throw notFound(idOrPath, []);
  return first;
}

/** Deletes a model's folder. @throws BastionError model_not_found when there is no such model. */
export async function removeModel(id: string, options: StoreOptions = {}): Promise<void> {
  assertModelId(id);
  const dir = join(storeDir(options), id);
  const exists = await stat(dir).catch(() => undefined);
  if (exists === undefined)
    throw notFound(
      id,
      (await listModels(options)).map((m) => m.id),
    );
  // Drop the manifest first: if removal stops half-way, what is left is no longer a model.
  await rm(join(dir, MANIFEST_FILE), { force: true });
  await rm(dir, { recursive: true, force: true });
}

/** 1_543_714_304 → "1.5B", 494_032_768 → "494M". */
export function formatParameterCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(count >= 1e10 ? 0 : 1)}B`;
  if (count >= 1e6) return `${Math.round(count / 1e6)}M`;
  if (count >= 1e3) return `${Math.round(count / 1e3)}K`;
  return String(count);
}

/**
 * A stored model with what its GGUF header says: architecture, parameters, quantisation, context length,
 * chat-template family; plus the manifest (licence, publisher, source) and its size on disk.
 * @throws BastionError model_not_found; GgufFormatError when a file does not parse.
 */
export async function modelInfo(id: string, options: StoreOptions = {}): Promise<ModelInfo> {
  const model = await getModel(id, options);
  const first = model.files[0];
  if (first === undefined)
    throw new BastionError("internal_error", `Model ${id} lists no files in its manifest.`);
  // node-llama-cpp reads the parts of a split model as one file.
  const file = await inspectModelFile(first, model.sizeOnDisk);
  const parameterCount = file.parameterCount ?? 0;
  return {
    ...model,
    name: file.name,
    architecture: file.architecture,
    parameterCount,
    parameterLabel: file.sizeLabel ?? formatParameterCount(parameterCount),
    quantisation: file.quantization,
    contextLength: file.trainedContextLength,
    embeddingLength: file.embeddingLength,
    chatTemplateFamily: file.chatTemplateFamily,
  };
}
