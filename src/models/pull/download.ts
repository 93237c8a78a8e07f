import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  writeFile,
} from "node:fs/promises";
import { basename, dirname } from "node:path";
import {
  isOfflineError,
  isTransientNetworkError,
  ModelPullError,
  networkErrorCode,
  offlineError,
} from "./errors.ts";
import { createSpeedMeter, formatBytes, type ProgressCallback } from "./progress.ts";

export interface DownloadFileOptions {
  url: URL;
  /** Final path; bytes go to `<destination>.partial` until verified. */
  destination: string;
  /** Published sha256 (hub LFS oid); when given, a mismatch deletes the partial and fails. */
  expectedSha256?: string | undefined;
  expectedSize?: number | undefined;
  /** Headers for a given URL (auth only for the hub's origin); called again after each redirect. */
  headersFor?: (url: URL) => Record<string, string>;
  /** Turns a failed first response into a specific error (gated, not found); default: a generic HTTP error. */
  describeFailure?: (response: Response) => ModelPullError;
  onProgress?: ProgressCallback;
  /** Name shown in progress; default: the destination's base name. */
  label?: string;
  signal?: AbortSignal;
  /** Attempts after the first, for transient failures; each resumes where the last stopped (default 4). */
  retries?: number;
  /** First backoff delay, doubled each time (default 1 s). */
  retryDelayMs?: number;
  /** Abort a response that sends nothing for this long (default 60 s), then retry. */
  stallTimeoutMs?: number;
  fetch?: typeof fetch;
  /** For tests: free bytes on the destination's file system. */
  freeBytes?: (path: string) => Promise<number>;
  /** Keep a destination that already exists and matches `expectedSha256` (default true). */
  reuseExisting?: boolean;
}

export interface DownloadedFile {
  path: string;
  size: number;
  sha256: string;
  /** Whether the sha256 was compared to a published one (false for plain URLs without metadata). */
  verified: boolean;
  /** Bytes received over the network in this call (less than `size` after a resume). */
  bytesFetched: number;
}

/** Sidecar of a partial download: what it is a partial of, so a resume never splices two versions. */
interface PartialState {
  url: string;
  etag: string | undefined;
  lastModified?: string | undefined;
  sha256: string | undefined;
  size: number | undefined;
}

const MAX_REDIRECTS = 10;

async function defaultFreeBytes(path: string): Promise<number> {
  const info = await statfs(path);
  return info.bavail * info.bsize;
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function readState(path: string): Promise<PartialState | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as PartialState;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function diskFullError(
  needed: number,
  free: number | undefined,
  path: string,
  cause?: unknown,
): ModelPullError {
  const freeText = free === undefined ? "" : `, ${formatBytes(free)} free`;
  return new ModelPullError(
    "disk_full",
    `Not enough disk space in ${dirname(path)}: ${formatBytes(needed)} needed${freeText}. Free some space or set BASTION_DATA_DIR to a larger disk.`,
    { cause },
  );
}

/** A validator If-Range may carry: a strong ETag, else a Last-Modified date. */
function strongValidator(state: Pick<PartialState, "etag" | "lastModified"> | undefined): string | undefined {
  if (state?.etag !== undefined && !state.etag.startsWith("W/")) return state.etag;
  return state?.lastModified;
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename durable; some file systems refuse to open a directory for syncing, which is fine. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r").catch(() => undefined);
  try {
    await handle?.sync();
  } catch {
    // EINVAL/EISDIR on file systems without directory fsync.
  } finally {
    await handle?.close();
  }
}

/** A `Content-Range: bytes a-b/total` header, parsed. */
function parseContentRange(value: string | null): { start: number; total: number | undefined } | undefined {
  const match = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (match === null) return undefined;
  return { start: Number(match[1]), total: match[3] === "*" ? undefined : Number(match[3]) };
}

/**
 * Downloads one file: resumable (Range on `<destination>.partial`, checked with If-Range), verified (sha256 streamed
 * while writing, compared to the published one) and atomic (renamed into place only once verified).
 * Transient network errors are retried with exponential backoff, resuming each time.
 * @throws ModelPullError with a reason: checksum_mismatch, size_mismatch, disk_full, offline, interrupted, gated, not_found, http_error.
 */
export async function downloadFile(options: DownloadFileOptions): Promise<DownloadedFile> {
  const { destination, signal } = options;
  const partialPath = `${destination}.partial`;
  const statePath = `${destination}.partial.json`;
  const label = options.label ?? basename(destination);
  const doFetch = options.fetch ?? fetch;
  const retries = options.retries ?? 4;
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
  const expectedSha = options.expectedSha256?.toLowerCase();
  const freeBytes = options.freeBytes ?? defaultFreeBytes;
  await mkdir(dirname(destination), { recursive: true });

  // A file left complete by an earlier pull that stopped on a later part: keep it if it still verifies.
  const existingSize =
    options.reuseExisting === false || expectedSha === undefined ? undefined : await fileSize(destination);
  if (
    existingSize !== undefined &&
    (options.expectedSize === undefined || existingSize === options.expectedSize)
  ) {
    const existingHash = createHash("sha256");
    await hashFile(destination, existingHash);
    const sha256 = existingHash.digest("hex");
    if (sha256 === expectedSha) {
      options.onProgress?.({
        file: label,
        downloadedBytes: existingSize,
        totalBytes: existingSize,
        bytesPerSecond: 0,
        done: true,
      });
      return { path: destination, size: existingSize, sha256, verified: true, bytesFetched: 0 };
    }
  }

  // A partial is reusable only if it is a partial of the same content.
  let state = await readState(statePath);
  let offset = (await fileSize(partialPath)) ?? 0;
  const sameContent =
    state !== undefined &&
    (expectedSha !== undefined ? state.sha256 === expectedSha : state.url === options.url.href) &&
    (options.expectedSize === undefined || state.size === undefined || state.size === options.expectedSize);
  if (offset > 0 && !sameContent) offset = 0;
  // Without a published checksum, only a strong validator proves the bytes on disk and the bytes
  // to come are one version of the file (If-Range); without one, splicing is possible: start over.
  if (offset > 0 && expectedSha === undefined && strongValidator(state) === undefined) offset = 0;
  if (options.expectedSize !== undefined && offset > options.expectedSize) offset = 0;
  if (offset === 0) state = undefined;

  let hash = createHash("sha256");
  if (offset > 0) await hashFile(partialPath, hash);
  let totalBytes = options.expectedSize ?? state?.size;
  let etag = state?.etag;
  let lastModified = state?.lastModified;
  let bytesFetched = 0;
  let file: FileHandle | undefined;
  const speed = createSpeedMeter();

  const saveState = () =>
    writeFile(
      statePath,
      JSON.stringify({
        url: options.url.href,
        etag,
        lastModified,
        sha256: expectedSha,
        size: totalBytes,
      } satisfies PartialState),
    );

  const restartFromZero = async () => {
    await file?.truncate(0);
    offset = 0;
    hash = createHash("sha256");
    speed.reset();
  };

  const report = (done = false) =>
    options.onProgress?.({
      file: label,
      downloadedBytes: offset,
      totalBytes,
      bytesPerSecond: done ? 0 : speed.sample(offset),
      ...(done ? { done } : {}),
    });

  async function checkSpace(): Promise<void> {
    if (totalBytes === undefined) return;
    const needed = totalBytes - offset;
    let free: number | undefined;
    try {
      free = await freeBytes(dirname(destination));
    } catch {
      return; // statfs unsupported: let ENOSPC speak if it comes to that
    }
    if (free < needed) throw diskFullError(needed, free, destination);
  }

  /** One request; follows redirects by hand so auth headers stay on the hub's origin. Resolves when the body ends. */
  async function attempt(): Promise<void> {
    await checkSpace();
    let url = options.url;
    let response: Response | undefined;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let stallTimer: NodeJS.Timeout | undefined;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(
        () =>
          controller.abort(
            Object.assign(new Error(`no data for ${stallTimeoutMs} ms`), { code: "ETIMEDOUT" }),
          ),
        stallTimeoutMs,
      );
    };
    try {
      armStall();
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = {
          ...(options.headersFor?.(url) ?? {}),
          "accept-encoding": "identity",
        };
        if (offset > 0) {
          headers.range = `bytes=${offset}-`;
          // If-Range takes a strong ETag or a Last-Modified date (a weak ETag is not allowed);
          // without either, only a published sha256 let the resume go ahead (checked at the end).
          const validator = strongValidator({ etag, lastModified });
          if (validator !== undefined) headers["if-range"] = validator;
        }
        response = await doFetch(url, { headers, redirect: "manual", signal: controller.signal });
        const location = response.headers.get("location");
        if (response.status >= 300 && response.status < 400 && location !== null) {
          if (hop >= MAX_REDIRECTS)
            throw new ModelPullError("http_error", `Too many redirects from ${options.url.href}.`);
          await response.body?.cancel();
          url = new URL(location, url);
          continue;
        }
        break;
      }

      if (response.status === 416 && offset > 0) {
        // Range past the end: either we already have it all, or the remote file changed size.
        await response.body?.cancel();
        const total = parseContentRange(response.headers.get("content-range"))?.total;
        if (total !== undefined && total === offset) {
          totalBytes = total;
          return;
        }
        await restartFromZero();
        throw Object.assign(new Error("range not satisfiable; restarting"), { code: "ECONNRESET" });
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw (
          options.describeFailure?.(response) ??
          new ModelPullError(
            "http_error",
            `Download of ${options.url.href} failed with HTTP ${response.status}.`,
            {
              isRetryable: response.status >= 500 || response.status === 429,
            },
          )
        );
      }

      if (response.status === 206) {
        const range = parseContentRange(response.headers.get("content-range"));
        if (range === undefined || range.start !== offset) {
          await response.body?.cancel();
          throw new ModelPullError(
            "http_error",
            `The server answered a range request for byte ${offset} with ${response.headers.get("content-range")}.`,
            {
              isRetryable: true,
            },
          );
        }
        totalBytes ??= range.total;
      } else {
        // 200: the server ignored Range, or If-Range found the file changed: start over.
        if (offset > 0) await restartFromZero();
        const length = response.headers.get("content-length");
        if (length !== null && totalBytes === undefined) totalBytes = Number(length);
      }
      const responseEtag = response.headers.get("etag") ?? undefined;
      if (responseEtag !== undefined) etag = responseEtag;
      const responseLastModified = response.headers.get("last-modified") ?? undefined;
      if (responseLastModified !== undefined) lastModified = responseLastModified;
      await saveState();
      await checkSpace();

      file ??= await open(partialPath, offset > 0 ? "r+" : "w");
      if (offset === 0) await file.truncate(0);
      if (response.body === null) return;
      let lastReport = 0;
      for await (const chunk of response.body) {
        armStall();
        const bytes = chunk as Uint8Array;
        try {
          await file.write(bytes, 0, bytes.length, offset);
        } catch (error) {
          if (networkErrorCode(error) === "ENOSPC") {
            throw diskFullError(Math.max(0, (totalBytes ?? offset) - offset), undefined, destination, error);
          }
          throw error;
        }
        hash.update(bytes);
        offset += bytes.length;
        bytesFetched += bytes.length;
        const at = Date.now();
        if (at - lastReport >= 100) {
          lastReport = at;
          report();
        }
        if (totalBytes !== undefined && offset > totalBytes) {
          throw new ModelPullError(
            "size_mismatch",
            `${label}: the server sent more than the ${totalBytes} bytes announced.`,
            {
              isRetryable: false,
            },
          );
        }
      }
    } catch (error) {
      // Our own stall timer aborts with an ETIMEDOUT-coded reason; surface that rather than an AbortError.
      if (controller.signal.aborted && !signal?.aborted) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(stallTimer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  try {
    // Counts failures in a row that made no progress: a flaky link that keeps delivering is not given up on.
    let failures = 0;
    for (;;) {
      const offsetBefore = offset;
      try {
        await attempt();
        if (totalBytes !== undefined && offset < totalBytes) {
          throw Object.assign(new Error(`connection closed at byte ${offset} of ${totalBytes}`), {
            code: "ECONNRESET",
          });
        }
        break;
      } catch (error) {
        if (signal?.aborted) throw error;
        const retryable = isTransientNetworkError(error);
        if (offset > offsetBefore) failures = 0;
        if (!retryable || failures >= retries) {
          if (error instanceof ModelPullError) throw error;
          if (isOfflineError(error) && bytesFetched === 0 && offset === 0)
            throw offlineError(options.url.origin, error);
          throw new ModelPullError(
            "interrupted",
            `Download of ${label} was interrupted at ${formatBytes(offset)}${totalBytes === undefined ? "" : ` of ${formatBytes(totalBytes)}`} ` +
              `(${networkErrorCode(error) ?? String(error)}). Run the same pull again to resume.`,
            { cause: error, isRetryable: true },
          );
        }
        await sleep(retryDelayMs * 2 ** failures, signal);
        failures++;
      }
    }
  } finally {
    await file?.close();
  }

  const sha256 = hash.digest("hex");
  const fail = async (reason: "checksum_mismatch" | "size_mismatch", message: string) => {
    await rm(partialPath, { force: true });
    await rm(statePath, { force: true });
    throw new ModelPullError(reason, message);
  };
  if (options.expectedSize !== undefined && offset !== options.expectedSize) {
    await fail(
      "size_mismatch",
      `${label}: received ${offset} bytes, the hub announced ${options.expectedSize}. The partial file was deleted; run the pull again.`,
    );
  }
  if (expectedSha !== undefined && sha256 !== expectedSha) {
    await fail(
      "checksum_mismatch",
      `${label}: checksum mismatch (sha256 ${sha256}, published ${expectedSha}). The download was corrupted or the mirror ` +
        "serves a different file; it was deleted. Run the pull again; if it repeats, check HF_ENDPOINT.",
    );
  }
  // The bytes reach the disk before the name does: a crash never leaves a verified-looking file
  // with a hole in it.
  await syncFile(partialPath);
  await rename(partialPath, destination);
  await syncDirectory(dirname(destination));
  await rm(statePath, { force: true });
  totalBytes = offset;
  report(true);
  return { path: destination, size: offset, sha256, verified: expectedSha !== undefined, bytesFetched };
}
