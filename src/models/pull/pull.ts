import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { modelsDir as defaultModelsDir } from "../../config/paths.ts";
import { type CatalogEntry, findCatalogEntry } from "../catalog.ts";
import {
  assertModelId,
  MANIFEST_FILE,
  type ManifestFile,
  type ModelManifest,
  readManifest,
  writeJsonAtomic,
} from "../store.ts";
import { downloadFile } from "./download.ts";
import { ModelPullError } from "./errors.ts";
import {
  createHfClient,
  type HfClient,
  type HfRepoFile,
  type HfRepoId,
  hubResponseError,
} from "./hf-client.ts";
import type { ProgressCallback } from "./progress.ts";
import { acquirePullLock } from "./pull-lock.ts";
import {
  type ModelRef,
  modelIdFromFileName,
  parseModelRef,
  quantFromFileName,
  sanitizeModelId,
  splitInfo,
  splitPartNames,
  unsafeFileName,
} from "./ref.ts";

export interface PullOptions {
  /** Hub or mirror; else `HF_ENDPOINT`; else https://huggingface.co. */
  endpoint?: string | undefined;
  /** Else `HF_TOKEN`. */
  token?: string | undefined;
  /** Store id to use instead of the one derived from the reference. */
  id?: string;
  /** Download again even if the model is already in the store. */
  force?: boolean;
  modelsDir?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
  stallTimeoutMs?: number;
  fetch?: typeof fetch;
  /** For tests: free bytes on the store's disk. */
  freeBytes?: (path: string) => Promise<number>;
}

export interface PullResult {
  id: string;
  dir: string;
  /** First GGUF file (what to load). */
  path: string;
  manifest: ModelManifest;
  /** False when the model was already in the store and nothing was downloaded. */
  downloaded: boolean;
}

/** What to fetch, once a reference is resolved. */
export interface PullPlan {
  id: string;
  source: string;
  repo?: HfRepoId;
  catalogEntry?: CatalogEntry;
  files: Array<{ name: string; url: URL; sha256: string | undefined; size: number | undefined }>;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

/** Up to `limit` candidates closest to `wanted` (case-insensitive edit distance). */
export function closeMatches(wanted: string, candidates: string[], limit = 5): string[] {
  const w = wanted.toLowerCase();
  return candidates
    .map((candidate) => ({ candidate, distance: levenshtein(w, candidate.toLowerCase()) }))
    .sort((x, y) => x.distance - y.distance)
    .slice(0, limit)
    .map((x) => x.candidate);
}

function isGguf(path: string): boolean {
  return path.toLowerCase().endsWith(".gguf");
}

/**
 * Picks the file(s) of a quantisation from a repository listing: a single file if there is one, else a complete
 * split set. Matching is case-insensitive on the quantisation in the file name.
 * @throws ModelPullError no_matching_quant, listing the quantisations the repository has.
 */
export function selectQuantFiles(files: HfRepoFile[], quant: string, repoName: string): HfRepoFile[] {
  const wanted = quant.toUpperCase();
  const ggufs = files.filter((f) => isGguf(f.path) && !/mmproj/i.test(f.path));
  const matching = ggufs.filter((f) => quantFromFileName(f.path) === wanted);
  const singles = matching
    .filter((f) => splitInfo(f.path) === undefined)
    .sort((a, b) => a.path.length - b.path.length);
  if (singles[0] !== undefined) return [singles[0]];
  for (const first of matching.filter((f) => splitInfo(f.path)?.index === 1)) {
    const byName = new Map(files.map((f) => [f.path, f]));
    const dir = first.path.includes("/") ? first.path.slice(0, first.path.lastIndexOf("/") + 1) : "";
    const parts = splitPartNames(first.path.slice(dir.length)).map((name) => byName.get(dir + name));
    if (parts.every((p) => p !== undefined)) return parts as HfRepoFile[];
  }
  const available = [
    ...new Set(ggufs.map((f) => quantFromFileName(f.path)).filter((q) => q !== undefined)),
  ].sort();
  throw new ModelPullError(
    "no_matching_quant",
    `${repoName} has no ${wanted} GGUF file. ` +
      (available.length > 0
        ? `Available quantisations: ${available.join(", ")}. Pull one with hf:${repoName}:<QUANT>.`
        : "It lists no GGUF files; check the repository name."),
  );
}

async function planHubFiles(
  client: HfClient,
  repo: HfRepoId,
  paths: string[],
  listing: HfRepoFile[] | undefined,
): Promise<PullPlan["files"]> {
  const known = new Map((listing ?? []).map((f) => [f.path, f]));
  const files: PullPlan["files"] = [];
  for (const path of paths) {
    const listed = known.get(path);
    let sha256 = listed?.sha256;
    let size = listed?.size;
    if (sha256 === undefined) {
      try {
        const meta = await client.fileMetadata(repo, path);
        sha256 = meta.sha256;
        size = meta.size ?? size;
      } catch (error) {
        if (error instanceof ModelPullError && error.reason === "not_found") {
          // Suggest what the repository does have, nearest names first.
          const all = listing ?? (await client.listFiles(repo).catch(() => []));
          const suggestions = closeMatches(path, all.map((f) => f.path).filter(isGguf));
          if (suggestions.length > 0) {
            throw new ModelPullError(
              "not_found",
              `${error.message} Close matches in ${repo.owner}/${repo.repo}: ${suggestions.join(", ")}.`,
              {
                cause: error,
              },
            );
          }
        }
        throw error;
      }
    }
    files.push({ name: path.split("/").pop() ?? path, url: client.fileUrl(repo, path), sha256, size });
  }
  return files;
}

/** Resolves a reference to the files to fetch, their published sha256 and sizes, and the store id. */
export async function planPull(
  input: string,
  client: HfClient,
  options: Pick<PullOptions, "id"> = {},
): Promise<PullPlan> {
  const ref: ModelRef = parseModelRef(input, (name) => findCatalogEntry(name) !== undefined);
  const withId = (id: string) => options.id ?? id;

  switch (ref.kind) {
    case "catalog": {
      const entry = findCatalogEntry(ref.name);
      if (entry === undefined)
        throw new ModelPullError("invalid_ref", `"${ref.name}" is not in the catalog.`);
      const [owner = "", repoName = ""] = entry.repo.split("/");
      const repo = { owner, repo: repoName, revision: "main" };
      const files = await planHubFiles(client, repo, entry.files, undefined);
      return { id: withId(entry.name), source: input, repo, catalogEntry: entry, files };
    }
    case "hf-file": {
      const repo = { owner: ref.owner, repo: ref.repo, revision: ref.revision };
      const name = ref.path.split("/").pop() ?? ref.path;
      const dir = ref.path.slice(0, ref.path.length - name.length);
      const paths = splitPartNames(name).map((part) => dir + part);
      const files = await planHubFiles(client, repo, paths, undefined);
      return { id: withId(modelIdFromFileName(name)), source: input, repo, files };
    }
    case "hf-quant": {
      const repo = { owner: ref.owner, repo: ref.repo, revision: ref.revision };
      const listing = await client.listFiles(repo);
      const chosen = selectQuantFiles(listing, ref.quant, `${ref.owner}/${ref.repo}`);
      const files = await planHubFiles(
        client,
        repo,
        chosen.map((f) => f.path),
        listing,
      );
      const first = files[0]?.name ?? `${ref.repo}-${ref.quant}`;
      return { id: withId(modelIdFromFileName(first)), source: input, repo, files };
    }
    case "url": {
      const name = decodeURIComponent(ref.url.pathname.split("/").pop() ?? "model.gguf");
      // A URL into the hub's own /resolve/ path gets the same checksum verification as hf: references.
      const hub = new URL(client.endpoint);
      const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(ref.url.pathname);
      if (ref.url.origin === hub.origin && match !== null) {
        const [, owner = "", repoName = "", revision = "main", path = ""] = match;
        const repo = { owner, repo: repoName, revision: decodeURIComponent(revision) };
        const decoded = decodeURIComponent(path);
        const fileName = decoded.split("/").pop() ?? decoded;
        const dir = decoded.slice(0, decoded.length - fileName.length);
        const files = await planHubFiles(
          client,
          repo,
          splitPartNames(fileName).map((part) => dir + part),
          undefined,
        );
        return { id: withId(modelIdFromFileName(fileName)), source: input, repo, files };
      }
      const base = ref.url.href.slice(
        0,
        ref.url.href.length -
          (ref.url.pathname.split("/").pop() ?? "").length -
          ref.url.search.length -
          ref.url.hash.length,
      );
      const files = splitPartNames(name).map((part) => ({
        name: part,
        url: part === name ? ref.url : new URL(encodeURIComponent(part), base),
        sha256: undefined,
        size: undefined,
      }));
      return { id: withId(modelIdFromFileName(name)), source: input, files };
    }
  }
}

/**
 * Pulls a model into the store: resolves the reference, downloads every file (resumable, verified against the
 * hub's sha256), then writes `manifest.json` last, so the model appears only once complete.
 * A model already in the store is returned as is unless `force`.
 * @throws ModelPullError whose message says what to do (gated, not found, checksum, disk full, offline, ...).
 */
export async function pullModel(ref: string, options: PullOptions = {}): Promise<PullResult> {
  const client = createHfClient({
    endpoint: options.endpoint,
    token: options.token,
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const plan = await planPull(ref, client, options.id === undefined ? {} : { id: options.id });
  const id = sanitizeModelId(plan.id);
  assertModelId(id);
  const root = options.modelsDir ?? defaultModelsDir(options.env);
  const dir = join(root, id);
  for (const file of plan.files) assertInside(dir, file.name);

  await mkdir(root, { recursive: true });
  const lock = await acquirePullLock(root, id);
  try {
    const existing = await readManifest(dir);
    if (existing !== undefined && !options.force) {
      return {
        id,
        dir,
        path: join(dir, existing.files[0]?.name ?? ""),
        manifest: existing,
        downloaded: false,
      };
    }
    // A forced pull downloads beside the model it replaces and swaps only once everything is
    // verified, so a failed or interrupted pull leaves the old model serving. Its partials stay
    // in the staging folder for the next attempt to resume.
    const target = existing === undefined ? dir : join(root, `.${id}.pull`);
    const result = await pullInto(target, id, plan, client, options);
    if (target !== dir) await swapInto(dir, target, root, id);
    return { ...result, dir, path: join(dir, result.manifest.files[0]?.name ?? "") };
  } finally {
    await lock.release();
  }
}

/** The one check every planned file passes: its name stays a single name inside the model's folder. */
function assertInside(dir: string, name: string): void {
  const unsafe = unsafeFileName(name);
  const path = resolve(dir, name);
  const inside = relative(dir, path);
  if (unsafe !== undefined || inside !== name || inside.startsWith("..")) {
    throw new ModelPullError(
      "invalid_ref",
      `Refusing to write "${name}": a model file ${unsafe ?? "would land outside its folder"}. Check the URL or the mirror.`,
    );
  }
  if (!name.toLowerCase().endsWith(".gguf")) {
    throw new ModelPullError("invalid_ref", `Refusing to write "${name}": only .gguf files are pulled.`);
  }
}

/** Puts a verified staging folder where the model lives; the old files go only after that. */
async function swapInto(dir: string, staging: string, root: string, id: string): Promise<void> {
  const old = join(root, `.${id}.old-${randomBytes(4).toString("hex")}`);
  await rename(dir, old);
  try {
    await rename(staging, dir);
  } catch (error) {
    await rename(old, dir);
    throw error;
  }
  await rm(old, { recursive: true, force: true });
}

async function pullInto(
  dir: string,
  id: string,
  plan: PullPlan,
  client: HfClient,
  options: PullOptions,
): Promise<PullResult> {
  await mkdir(dir, { recursive: true });

  const repoName = plan.repo === undefined ? undefined : `${plan.repo.owner}/${plan.repo.repo}`;
  const manifestFiles: ManifestFile[] = [];
  try {
    for (const [index, file] of plan.files.entries()) {
      const result = await downloadFile({
        url: file.url,
        destination: join(dir, file.name),
        reuseExisting: !options.force,
        expectedSha256: file.sha256,
        expectedSize: file.size,
        headersFor: client.headersFor,
        describeFailure: (response) =>
          plan.repo === undefined
            ? new ModelPullError(
                "http_error",
                `Download of ${file.url.href} failed with HTTP ${response.status}.`,
                {
                  isRetryable: response.status >= 500,
                },
              )
            : hubResponseError(response, {
                repo: plan.repo,
                path: file.name,
                endpoint: client.endpoint,
                hasToken: client.hasToken,
              }),
        label: file.name,
        ...(options.onProgress === undefined
          ? {}
          : {
              onProgress: (progress) =>
                options.onProgress?.({ ...progress, fileIndex: index + 1, fileCount: plan.files.length }),
            }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
        ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
        ...(options.freeBytes === undefined ? {} : { freeBytes: options.freeBytes }),
      });
      manifestFiles.push({
        name: file.name,
        size: result.size,
        sha256: result.sha256,
        verified: result.verified,
        url: file.url.href,
      });
    }
  } catch (error) {
    // A corrupt download leaves nothing behind; anything else keeps its partials so the next pull resumes.
    if (
      error instanceof ModelPullError &&
      (error.reason === "checksum_mismatch" || error.reason === "size_mismatch")
    ) {
      await rm(dir, { recursive: true, force: true });
    }
    throw error;
  }

  let licence: ModelManifest["licence"];
  let publisher: ModelManifest["publisher"];
  let packager: string | undefined;
  const entry = plan.catalogEntry;
  if (entry !== undefined) {
    licence = entry.licence;
    publisher = entry.publisher;
    packager = entry.packager;
  } else if (plan.repo !== undefined) {
    // Licence and author from the model card, where the hub or mirror gives them; a pull never fails for lack of it.
    const card = await client.modelCard(plan.repo).catch(() => undefined);
    if (card?.licence !== undefined) licence = { id: card.licence };
    if (card?.baseModels[0] !== undefined)
      publisher = { name: card.baseModels[0].split("/")[0] ?? card.baseModels[0] };
    packager = card?.author ?? plan.repo.owner;
  }

  const manifest: ModelManifest = {
    schemaVersion: 1,
    id,
    source: plan.source,
    ...(plan.repo === undefined
      ? {}
      : { repo: { endpoint: client.endpoint, id: repoName ?? "", revision: plan.repo.revision } }),
    files: manifestFiles,
    ...(licence === undefined ? {} : { licence }),
    ...(publisher === undefined ? {} : { publisher }),
    ...(packager === undefined ? {} : { packager }),
    ...(entry === undefined ? {} : { catalogName: entry.name }),
    downloadedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
  return { id, dir, path: join(dir, manifestFiles[0]?.name ?? ""), manifest, downloaded: true };
}
