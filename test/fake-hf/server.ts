/**
 * A fake Hugging Face hub on 127.0.0.1 for tests: the resolve endpoint (GET/HEAD, Range, If-Range, the hub's
 * X-Linked-Etag / X-Linked-Size / X-Repo-Commit headers, optional 302 to a separate "CDN" origin), the model and
 * tree APIs with LFS oids, gated and missing repositories with the hub's X-Error-Code, and fault injection.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeHfFile {
  path: string;
  content: Buffer;
  /** Stored through LFS (default true): gets `lfs` in listings and X-Linked-* headers. */
  lfs?: boolean;
}

export interface FakeHfRepo {
  /** "owner/repo" */
  id: string;
  files: FakeHfFile[];
  /** Requires `Authorization: Bearer <token>` with the server's token. */
  gated?: boolean;
  license?: string;
  baseModel?: string;
}

export interface FakeHfFault {
  /** Close the connection after this many body bytes, for the next `times` GETs (default 1). */
  dropAfterBytes?: number;
  /** Serve flipped bytes while declaring the true sha256. */
  corrupt?: boolean;
  /** Answer range requests with 200 and the whole file. */
  ignoreRange?: boolean;
  /** Answer with this HTTP status (a 5xx outage, say) instead of the file. */
  status?: number;
  times?: number;
}

export interface RecordedRequest {
  origin: "hub" | "cdn";
  method: string;
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  authorization: string | undefined;
  status: number;
  bodyBytes: number;
}

export interface FakeHfOptions {
  repos: FakeHfRepo[];
  /** The token that opens gated repositories. */
  token?: string;
  /** Answer LFS downloads with 302 to a second server (another origin), as the real hub does. */
  redirectToCdn?: boolean;
}

export interface FakeHf {
  /** Base URL, e.g. http://127.0.0.1:43210 (use as HF_ENDPOINT). */
  url: string;
  cdnUrl: string;
  requests: RecordedRequest[];
  setFault(path: string, fault: FakeHfFault | undefined): void;
  sha256(content: Buffer): string;
  /** Sum of body bytes sent for GETs of files whose path ends with `fileName`. */
  bytesServed(fileName: string): number;
  close(): Promise<void>;
}

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function gitOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

export async function startFakeHf(options: FakeHfOptions): Promise<FakeHf> {
  const repos = new Map(options.repos.map((r) => [r.id, r]));
  const faults = new Map<string, FakeHfFault>();
  const requests: RecordedRequest[] = [];
  const blobs = new Map<string, Buffer>(); // sha256 → content, for the CDN
  for (const repo of options.repos)
    for (const file of repo.files) blobs.set(sha256(file.content), file.content);

  function record(
    origin: "hub" | "cdn",
    req: IncomingMessage,
    status: number,
    bodyBytes: number,
    path: string,
  ) {
    requests.push({
      origin,
      method: req.method ?? "GET",
      path,
      range: req.headers.range,
      ifRange: req.headers["if-range"] as string | undefined,
      authorization: req.headers.authorization,
      status,
      bodyBytes,
    });
  }

  function sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function hubError(res: ServerResponse, status: number, code: string, message: string) {
    sendJson(res, status, { error: message }, { "x-error-code": code, "x-error-message": message });
  }

  /** Serves bytes with Range/If-Range and faults; returns body bytes written. */
  function serveContent(
    req: IncomingMessage,
    res: ServerResponse,
    filePath: string,
    content: Buffer,
    extra: Record<string, string>,
  ): Promise<number> {
    const etag = `"${sha256(content)}"`;
    const fault = faults.get(filePath);
    const active = fault !== undefined && (fault.times ?? 1) > 0 && req.method === "GET";
    if (active && fault.status !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      res.writeHead(fault.status, { "content-type": "text/plain" });
      res.end("fault");
      return Promise.resolve(0);
    }
    let body = content;
    if (active && fault.corrupt) {
      body = Buffer.from(content);
      for (let i = 0; i < body.length; i += 97) body[i] = (body[i] ?? 0) ^ 0xff;
    }
    let start = 0;
    let status = 200;
    const range = req.headers.range;
    const ifRange = req.headers["if-range"];
    const rangeMatch = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
    const honourRange =
      rangeMatch !== null && !(active && fault.ignoreRange) && (ifRange === undefined || ifRange === etag);
    let end = body.length - 1;
    if (honourRange && rangeMatch !== null) {
      start = Number(rangeMatch[1]);
      if (rangeMatch[2] !== "") end = Math.min(end, Number(rangeMatch[2]));
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` });
        res.end();
        return Promise.resolve(0);
      }
      status = 206;
    }
    const slice = body.subarray(start, end + 1);
    const headers: Record<string, string> = {
      ...extra,
      etag,
      "accept-ranges": "bytes",
      "content-length": String(slice.length),
      "content-type": "application/octet-stream",
    };
    if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${body.length}`;
    res.writeHead(status, headers);
    if (req.method === "HEAD") {
      res.end();
      return Promise.resolve(0);
    }
    if (active) fault.times = (fault.times ?? 1) - 1;
    if (active && fault.dropAfterBytes !== undefined) {
      const cut = slice.subarray(0, fault.dropAfterBytes);
      return new Promise((resolve) => {
        res.write(cut, () => {
          // Let the bytes leave before the connection is cut, so the client really holds a partial.
          // Generous on a busy machine: bytes still queued in the client's stream when the
          // connection errors are dropped, which would shorten the partial.
          setTimeout(() => {
            res.socket?.destroy();
            resolve(cut.length);
          }, 500);
        });
      });
    }
    res.end(slice);
    return Promise.resolve(slice.length);
  }

  let cdnUrl = "";
  const cdn = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://cdn");
    const match = /^\/blobs\/([0-9a-f]{64})\/(.+)$/.exec(url.pathname);
    const content = match?.[1] === undefined ? undefined : blobs.get(match[1]);
    if (match === null || content === undefined) {
      res.writeHead(404);
      res.end();
      record("cdn", req, 404, 0, url.pathname);
      return;
    }
    const filePath = decodeURIComponent(match[2] ?? "");
    void serveContent(req, res, filePath, content, {}).then((bytes) =>
      record("cdn", req, res.statusCode, bytes, filePath),
    );
  });
  cdnUrl = await listen(cdn);

  const hub = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://hub");
    const path = decodeURIComponent(url.pathname);
    const done = (bytes = 0) => record("hub", req, res.statusCode, bytes, path);

    const authorise = (repo: FakeHfRepo): boolean => {
      if (!repo.gated) return true;
      const auth = req.headers.authorization;
      const message = `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
      if (auth === undefined) {
        hubError(res, 401, "GatedRepo", message);
        return false;
      }
      if (auth !== `Bearer ${options.token}`) {
        hubError(res, 403, "GatedRepo", message);
        return false;
      }
      return true;
    };
    const findRepo = (owner: string, name: string): FakeHfRepo | undefined => {
      const repo = repos.get(`${owner}/${name}`);
      if (repo === undefined) {
        // The hub answers 401 for unknown repositories, so as not to reveal private ones.
        hubError(res, 401, "RepoNotFound", "Repository not found");
      }
      return repo;
    };

    const api = /^\/api\/models\/([^/]+)\/([^/]+)(?:\/tree\/([^/]+)(?:\/(.*))?)?$/.exec(path);
    if (api !== null) {
      const repo = findRepo(api[1] ?? "", api[2] ?? "");
      if (repo === undefined || !authorise(repo)) return done();
      if (api[3] === undefined) {
        sendJson(res, 200, {
          _id: "fake",
          id: repo.id,
          modelId: repo.id,
          author: repo.id.split("/")[0],
          sha: COMMIT,
          private: false,
          gated: repo.gated ? "manual" : false,
          tags: ["gguf", ...(repo.license === undefined ? [] : [`license:${repo.license}`])],
          cardData: {
            ...(repo.license === undefined ? {} : { license: repo.license }),
            ...(repo.baseModel === undefined ? {} : { base_model: repo.baseModel }),
          },
          siblings: repo.files.map((f) => ({ rfilename: f.path })),
        });
        return done();
      }
      if (api[3] !== "main" && api[3] !== COMMIT) {
        hubError(res, 404, "RevisionNotFound", `Invalid rev id: ${api[3]}`);
        return done();
      }
      // Page by two entries so clients must follow the Link header, as with the real API's pagination.
      const entries = repo.files.map((f) => ({
        type: "file",
        oid: gitOid(f.content),
        size: f.lfs === false ? f.content.length : 134,
        path: f.path,
        ...(f.lfs === false
          ? {}
          : { lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 134 } }),
      }));
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const page = entries.slice(cursor, cursor + 2);
      const headers: Record<string, string> = {};
      if (cursor + 2 < entries.length) {
        headers.link = `<${url.pathname}?recursive=true&cursor=${cursor + 2}>; rel="next"`;
      }
      sendJson(res, 200, page, headers);
      return done();
    }

    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve !== null) {
      const repo = findRepo(resolve[1] ?? "", resolve[2] ?? "");
      if (repo === undefined || !authorise(repo)) return done();
      if (resolve[3] !== "main" && resolve[3] !== COMMIT) {
        hubError(res, 404, "RevisionNotFound", `Invalid rev id: ${resolve[3]}`);
        return done();
      }
      const file = repo.files.find((f) => f.path === resolve[4]);
      if (file === undefined) {
        hubError(res, 404, "EntryNotFound", `Entry not found`);
        return done();
      }
      const sha = sha256(file.content);
      const lfs = file.lfs !== false;
      const linked: Record<string, string> = lfs
        ? {
            "x-linked-etag": `"${sha}"`,
            "x-linked-size": String(file.content.length),
            "x-repo-commit": COMMIT,
          }
        : { "x-repo-commit": COMMIT };
      if (lfs && options.redirectToCdn) {
        res.writeHead(302, {
          ...linked,
          etag: `"${sha}"`,
          location: `${cdnUrl}/blobs/${sha}/${encodeURIComponent(file.path)}?expires=never`,
          "content-length": "0",
        });
        res.end();
        return done();
      }
      void serveContent(req, res, file.path, file.content, linked).then((bytes) => done(bytes));
      return;
    }
    res.writeHead(404);
    res.end();
    done();
  });
  const url = await listen(hub);

  return {
    url,
    cdnUrl,
    requests,
    setFault(path, fault) {
      if (fault === undefined) faults.delete(path);
      else faults.set(path, { ...fault });
    },
    sha256,
    bytesServed(fileName) {
      return requests
        .filter((r) => r.method === "GET" && r.path.endsWith(fileName))
        .reduce((sum, r) => sum + r.bodyBytes, 0);
    },
    async close() {
      await Promise.all(
        [hub, cdn].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}
