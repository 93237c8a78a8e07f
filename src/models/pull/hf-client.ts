import { isOfflineError, ModelPullError, offlineError } from "./errors.ts";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

export interface HfClientOptions {
  /** Hub or mirror base URL; else `HF_ENDPOINT`; else https://huggingface.co. */
  endpoint?: string | undefined;
  /** Access token for gated or private repositories; else `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`). */
  token?: string | undefined;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export interface HfRepoId {
  owner: string;
  repo: string;
  revision: string;
}

/** One file of a repository listing, as the tree API reports it. */
export interface HfRepoFile {
  path: string;
  size: number;
  /** sha256 of the content, from the file's LFS pointer; undefined for files kept in plain git. */
  sha256: string | undefined;
}

/** What a HEAD on `/resolve/` says about a file before any byte is fetched. */
export interface HfFileMetadata {
  size: number | undefined;
  sha256: string | undefined;
  commit: string | undefined;
}

/** What `/api/models/{repo}` says about licence and authorship (all optional: mirrors may omit them). */
export interface HfModelCard {
  licence: string | undefined;
  author: string | undefined;
  baseModels: string[];
}

export interface HfClient {
  readonly endpoint: string;
  readonly hasToken: boolean;
  /** The download URL of a file: `{endpoint}/{owner}/{repo}/resolve/{revision}/{path}`. */
  fileUrl(repo: HfRepoId, path: string): URL;
  /** Authorization for a URL: only sent to the hub's own origin, never to the CDN it redirects to. */
  headersFor(url: URL): Record<string, string>;
  listFiles(repo: HfRepoId): Promise<HfRepoFile[]>;
  fileMetadata(repo: HfRepoId, path: string): Promise<HfFileMetadata>;
  modelCard(repo: HfRepoId): Promise<HfModelCard>;
}

const sha256Pattern = /^[0-9a-f]{64}$/;

/** `"abc..."` or `W/"abc"` → the sha256 inside, if it is one. */
export function sha256FromEtag(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.replace(/^W\//, "").replace(/^"|"$/g, "").toLowerCase();
  return sha256Pattern.test(text) ? text : undefined;
}

export function resolveHfEndpoint(options: Pick<HfClientOptions, "endpoint" | "env">): string {
  const env = options.env ?? process.env;
  const raw =
    options.endpoint ??
    (env.HF_ENDPOINT !== undefined && env.HF_ENDPOINT !== "" ? env.HF_ENDPOINT : DEFAULT_HF_ENDPOINT);
  try {
    const url = new URL(raw);
    return url.href.replace(/\/+$/, "");
  } catch {
    throw new ModelPullError(
      "invalid_ref",
      `HF_ENDPOINT "${raw}" is not a URL; set it to e.g. https://huggingface.co or your mirror.`,
    );
  }
}

export function resolveHfToken(options: Pick<HfClientOptions, "token" | "env">): string | undefined {
  const env = options.env ?? process.env;
  const token = options.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  return token === undefined || token === "" ? undefined : token;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Where a user accepts a gated model's licence: always the public hub page, even behind a mirror. */
export function repoPageUrl(repo: Pick<HfRepoId, "owner" | "repo">, endpoint: string): string {
  const base = endpoint === DEFAULT_HF_ENDPOINT ? DEFAULT_HF_ENDPOINT : endpoint;
  return `${base}/${repo.owner}/${repo.repo}`;
}

/**
 * Turns a failed hub response into an error that says what to do. The hub sets `X-Error-Code`
 * (`RepoNotFound`, `GatedRepo`, `EntryNotFound`, `RevisionNotFound`); a missing repository answers 401, not 404.
 */
export function hubResponseError(
  response: Response,
  context: {
    repo: Pick<HfRepoId, "owner" | "repo" | "revision">;
    path?: string;
    endpoint: string;
    hasToken: boolean;
  },
): ModelPullError {
  const errorCode = response.headers.get("x-error-code") ?? "";
  const repoName = `${context.repo.owner}/${context.repo.repo}`;
  const status = response.status;
  if (errorCode === "RepoNotFound" || (status === 404 && errorCode === "")) {
    if (context.path === undefined || errorCode === "RepoNotFound") {
      return new ModelPullError(
        "not_found",
        `Repository ${repoName} was not found on ${context.endpoint} (HTTP ${status}). Check the name (owner/repo, case matters)` +
          (context.hasToken ? "." : "; if it is private, set HF_TOKEN."),
      );
    }
  }
  if (errorCode === "RevisionNotFound") {
    return new ModelPullError(
      "not_found",
      `Revision "${context.repo.revision}" of ${repoName} does not exist. Check the #revision.`,
    );
  }
  if (status === 404 || errorCode === "EntryNotFound") {
    return new ModelPullError(
      "not_found",
      `File ${context.path ?? "(listing)"} was not found in ${repoName}@${context.repo.revision}. Check the file name.`,
    );
  }
  if (status === 401 || status === 403 || errorCode === "GatedRepo") {
    const page = repoPageUrl(context.repo, context.endpoint);
    const tokenAdvice = context.hasToken
      ? "your HF_TOKEN was refused or has no access to it: check the token (read access) and that its account accepted the licence"
      : "set HF_TOKEN (or pass --token) to a Hugging Face access token of an account that accepted it";
    return new ModelPullError(
      "gated",
      `${repoName} is gated (HTTP ${status}): accept the licence at ${page} while logged in, then ${tokenAdvice}.`,
    );
  }
  return new ModelPullError(
    "http_error",
    `The hub answered HTTP ${status} for ${repoName}${context.path === undefined ? "" : `/${context.path}`}.` +
      (status >= 500 ? " The hub or mirror is having trouble; try again later." : ""),
    { isRetryable: status >= 500 || status === 429 },
  );
}

/** A small client for the parts of the Hugging Face hub API a model pull needs. */
export function createHfClient(options: HfClientOptions = {}): HfClient {
  const endpoint = resolveHfEndpoint(options);
  const token = resolveHfToken(options);
  const doFetch = options.fetch ?? fetch;
  const origin = new URL(endpoint).origin;

  const headersFor = (url: URL): Record<string, string> =>
    token !== undefined && url.origin === origin ? { authorization: `Bearer ${token}` } : {};

  async function request(url: URL, init: RequestInit, repo: HfRepoId, path?: string): Promise<Response> {
    let response: Response;
    try {
      response = await doFetch(url, {
        ...init,
        headers: { ...headersFor(url), ...(init.headers as Record<string, string>) },
      });
    } catch (error) {
      if (isOfflineError(error)) throw offlineError(origin, error);
      throw new ModelPullError(
        "http_error",
        `Request to ${url.href} failed: ${String(error)}. Check the network or HF_ENDPOINT.`,
        {
          cause: error,
          isRetryable: true,
        },
      );
    }
    if (!response.ok && !(response.status >= 300 && response.status < 400)) {
      throw hubResponseError(response, {
        repo,
        endpoint,
        hasToken: token !== undefined,
        ...(path === undefined ? {} : { path }),
      });
    }
    return response;
  }

  return {
    endpoint,
    hasToken: token !== undefined,
    fileUrl: (repo, path) =>
      new URL(
        `${endpoint}/${repo.owner}/${repo.repo}/resolve/${encodeURIComponent(repo.revision)}/${encodePath(path)}`,
      ),
    headersFor,

    async listFiles(repo) {
      const files: HfRepoFile[] = [];
      let next: URL | undefined = new URL(
        `${endpoint}/api/models/${repo.owner}/${repo.repo}/tree/${encodeURIComponent(repo.revision)}?recursive=true`,
      );
      // The tree API pages its answer with a `Link: <...>; rel="next"` header.
      for (let page = 0; next !== undefined && page < 100; page++) {
        const response = await request(next, {}, repo);
        const entries = (await response.json()) as unknown;
        if (!Array.isArray(entries))
          throw new ModelPullError("http_error", `Unexpected listing from ${next.href}.`);
        for (const entry of entries as Array<Record<string, unknown>>) {
          if (entry.type !== "file" || typeof entry.path !== "string") continue;
          const lfs = entry.lfs as { oid?: unknown; sha256?: unknown; size?: unknown } | undefined;
          const sha =
            typeof lfs?.oid === "string" ? lfs.oid : typeof lfs?.sha256 === "string" ? lfs.sha256 : undefined;
          const size =
            typeof lfs?.size === "number" ? lfs.size : typeof entry.size === "number" ? entry.size : 0;
          files.push({
            path: entry.path,
            size,
            sha256: sha !== undefined && sha256Pattern.test(sha) ? sha : undefined,
          });
        }
        const link = response.headers.get("link");
        const match = link === null ? null : /<([^>]+)>;\s*rel="next"/.exec(link);
        next = match?.[1] === undefined ? undefined : new URL(match[1], endpoint);
      }
      return files;
    },

    async fileMetadata(repo, path) {
      // Not following the redirect: the hub's own answer carries the LFS sha256 and size; the CDN's may not.
      const response = await request(
        this.fileUrl(repo, path),
        { method: "HEAD", redirect: "manual" },
        repo,
        path,
      );
      const headers = response.headers;
      const sizeText =
        headers.get("x-linked-size") ?? (response.status === 200 ? headers.get("content-length") : null);
      const size = sizeText === null ? undefined : Number(sizeText);
      return {
        size: size !== undefined && Number.isFinite(size) && size >= 0 ? size : undefined,
        sha256: sha256FromEtag(headers.get("x-linked-etag")) ?? sha256FromEtag(headers.get("etag")),
        commit: headers.get("x-repo-commit") ?? undefined,
      };
    },

    async modelCard(repo) {
      const response = await request(new URL(`${endpoint}/api/models/${repo.owner}/${repo.repo}`), {}, repo);
      const body = (await response.json()) as Record<string, unknown>;
      const card = (body.cardData ?? {}) as Record<string, unknown>;
      const tags = Array.isArray(body.tags)
        ? (body.tags as unknown[]).filter((t): t is string => typeof t === "string")
        : [];
      const licenceTag = tags.find((t) => t.startsWith("license:"))?.slice("license:".length);
      const licence = typeof card.license === "string" ? card.license : licenceTag;
      const base = card.base_model;
      const baseModels =
        typeof base === "string"
          ? [base]
          : Array.isArray(base)
            ? base.filter((b) => typeof b === "string")
            : [];
      return {
        licence,
        author: typeof body.author === "string" ? body.author : repo.owner,
        baseModels,
      };
    },
  };
}
