/**
 * A plain HTTP file server for `bastion pull <url>` tests: Range and If-Range, and a choice of
 * validator (strong ETag, weak ETag, Last-Modified, none) to test when a resume is allowed.
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type Validator = "etag" | "weak-etag" | "last-modified" | "none";

export interface FileServerRequest {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  status: number;
}

export interface FileServer {
  url: string;
  requests: FileServerRequest[];
  /** Stop sending after this many body bytes on the next GET (the connection stays open, silent). */
  dropNextAfter(bytes: number): void;
  close(): Promise<void>;
}

export async function startFileServer(options: {
  files: Record<string, Buffer>;
  validator: Validator;
}): Promise<FileServer> {
  const requests: FileServerRequest[] = [];
  let dropAfter: number | undefined;
  const lastModified = new Date(Date.UTC(2026, 0, 1)).toUTCString();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const content = options.files[path];
    const record = (status: number) =>
      requests.push({
        path,
        range: req.headers.range,
        ifRange: req.headers["if-range"] as string | undefined,
        status,
      });
    if (content === undefined) {
      record(404);
      res.writeHead(404);
      res.end();
      return;
    }
    const hash = createHash("sha256").update(content).digest("hex").slice(0, 16);
    const validators: Record<string, string> = {};
    if (options.validator === "etag") validators.etag = `"${hash}"`;
    if (options.validator === "weak-etag") validators.etag = `W/"${hash}"`;
    if (options.validator === "last-modified") validators["last-modified"] = lastModified;
    const ifRange = req.headers["if-range"];
    const current = validators.etag ?? validators["last-modified"];
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const partial = match !== null && (ifRange === undefined || ifRange === current);
    const start = partial ? Number(match[1]) : 0;
    const body = content.subarray(start);
    const status = partial ? 206 : 200;
    record(status);
    res.writeHead(status, {
      ...validators,
      "content-length": String(body.length),
      ...(partial ? { "content-range": `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
    });
    if (dropAfter !== undefined) {
      const cut = dropAfter;
      dropAfter = undefined;
      // Send the bytes, then go silent: the client's stall timeout ends the attempt after it has
      // read everything (cutting the connection instead can lose queued bytes on a busy machine).
      res.write(body.subarray(0, cut));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropNextAfter(bytes) {
      dropAfter = bytes;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
