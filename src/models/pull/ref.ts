import { ModelPullError } from "./errors.ts";

/** A model reference as the user typed it, parsed but not yet resolved against the hub. */
export type ModelRef =
  | { kind: "hf-file"; owner: string; repo: string; revision: string; path: string }
  | { kind: "hf-quant"; owner: string; repo: string; revision: string; quant: string }
  | { kind: "catalog"; name: string }
  | { kind: "url"; url: URL };

const acceptedForms = [
  "hf:owner/repo/path/file.gguf (one file; add #revision to pin a branch or commit)",
  "hf:owner/repo:Q4_K_M (picks the file by quantisation)",
  "a catalog name such as deepseek-r1-distill-qwen-1.5b (see `bastion catalog`)",
  "an https:// URL of a .gguf file",
].join("; ");

const namePart = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const catalogName = /^[a-z0-9][a-z0-9._-]*$/;
const quantPattern = /^[A-Za-z0-9_]+$/;

function invalid(input: string, why: string): ModelPullError {
  return new ModelPullError(
    "invalid_ref",
    `Cannot read model reference "${input}": ${why}. Accepted: ${acceptedForms}.`,
  );
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\./.test(hostname);
}

/**
 * Parses a model reference (`hf:owner/repo/file.gguf`, `hf:owner/repo:QUANT`, a catalog name, an https URL).
 * `isCatalogName` decides whether a bare word is a catalog entry. Plain http is accepted only for loopback hosts.
 * @throws ModelPullError (reason `invalid_ref`) naming the accepted forms.
 */
export function parseModelRef(input: string, isCatalogName: (name: string) => boolean): ModelRef {
  const text = input.trim();
  if (text === "") throw invalid(input, "it is empty");

  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw invalid(input, "it is not a valid URL");
    }
    if (url.protocol === "http:" && !isLoopback(url.hostname)) {
      throw invalid(input, "plain http is refused (weights must arrive over https); use https://");
    }
    let name: string;
    try {
      name = decodeURIComponent(url.pathname.split("/").pop() ?? "");
    } catch {
      throw invalid(input, "its file name is not valid percent-encoding");
    }
    const unsafe = unsafeFileName(name);
    if (unsafe !== undefined) throw invalid(input, `its file name ${unsafe}`);
    if (!name.toLowerCase().endsWith(".gguf")) throw invalid(input, "the URL must name a .gguf file");
    return { kind: "url", url };
  }

  if (text.startsWith("hf:")) {
    let body = text.slice(3);
    let revision = "main";
    const hash = body.indexOf("#");
    if (hash >= 0) {
      revision = body.slice(hash + 1);
      body = body.slice(0, hash);
      if (!/^[A-Za-z0-9._/-]+$/.test(revision)) throw invalid(input, `"${revision}" is not a revision name`);
    }
    const colon = body.lastIndexOf(":");
    if (colon >= 0) {
      const quant = body.slice(colon + 1);
      const [owner, repo, ...rest] = body.slice(0, colon).split("/");
      if (
        owner === undefined ||
        repo === undefined ||
        rest.length > 0 ||
        !namePart.test(owner) ||
        !namePart.test(repo)
      ) {
        throw invalid(input, "expected hf:owner/repo:QUANT");
      }
      if (!quantPattern.test(quant))
        throw invalid(input, `"${quant}" is not a quantisation name such as Q4_K_M`);
      return { kind: "hf-quant", owner, repo, revision, quant };
    }
    const [owner, repo, ...pathParts] = body.split("/");
    if (owner === undefined || repo === undefined || !namePart.test(owner) || !namePart.test(repo)) {
      throw invalid(input, "expected hf:owner/repo/file.gguf or hf:owner/repo:QUANT");
    }
    if (pathParts.length === 0)
      throw invalid(input, "name a file (hf:owner/repo/file.gguf) or a quantisation (hf:owner/repo:Q4_K_M)");
    if (pathParts.some((part) => part === "" || part === "." || part === ".."))
      throw invalid(input, "the file path is not valid");
    const path = pathParts.join("/");
    if (!path.toLowerCase().endsWith(".gguf")) throw invalid(input, "only .gguf files can be pulled");
    return { kind: "hf-file", owner, repo, revision, path };
  }

  if (catalogName.test(text) && isCatalogName(text)) return { kind: "catalog", name: text };
  throw invalid(
    input,
    catalogName.test(text) ? `"${text}" is not in the catalog` : "the form is not recognised",
  );
}

/**
 * Why a file name (as it will be written in the store) is unsafe, or undefined when it is safe:
 * it must stay a single name inside the model's folder, whatever a URL or a mirror's listing says.
 */
export function unsafeFileName(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name.includes("\0")) return "contains a NUL byte";
  if (name.includes("/") || name.includes("\\")) return `"${name}" contains a path separator`;
  if (name.includes("..")) return `"${name}" contains ".."`;
  if (name.startsWith(".")) return `"${name}" starts with a dot`;
  return undefined;
}

const splitPattern = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** For `name-00001-of-00003.gguf`: the part index and count; undefined for a single file. */
export function splitInfo(fileName: string): { index: number; count: number; stem: string } | undefined {
  const match = splitPattern.exec(fileName);
  if (match === null) return undefined;
  return { index: Number(match[1]), count: Number(match[2]), stem: fileName.slice(0, match.index) };
}

/** All part names of a split set, given any one of them. */
export function splitPartNames(fileName: string): string[] {
  const info = splitInfo(fileName);
  if (info === undefined) return [fileName];
  const pad = (n: number) => String(n).padStart(5, "0");
  return Array.from(
    { length: info.count },
    (_, i) => `${info.stem}-${pad(i + 1)}-of-${pad(info.count)}.gguf`,
  );
}

/** A store id from a file name: lower case, no `.gguf`, no split suffix, only `[a-z0-9._-]`. */
export function modelIdFromFileName(fileName: string): string {
  const base = fileName.split("/").pop() ?? fileName;
  const stem = splitInfo(base)?.stem ?? base.replace(/\.gguf$/i, "");
  return sanitizeModelId(stem);
}

export function sanitizeModelId(text: string): string {
  const id = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
  return id === "" ? "model" : id;
}

/**
 * The quantisation a GGUF file name carries (`...-Q4_K_M.gguf`, `....q4_k_m.gguf`, `..._IQ4_XS-00001-of-00002.gguf`),
 * upper-cased, or undefined.
 */
export function quantFromFileName(fileName: string): string | undefined {
  const base = (fileName.split("/").pop() ?? fileName).replace(splitPattern, ".gguf").replace(/\.gguf$/i, "");
  const match =
    /(?:^|[-._])((?:I?Q\d(?:_[A-Z0-9]+)*)|BF16|F16|F32|FP16|MXFP4(?:_MOE)?|TQ\d_\d)$/i.exec(base) ??
    /(?:^|[-._])((?:I?Q\d(?:_[A-Z0-9]+)*)|BF16|F16|F32)(?=[-._])/i.exec(base);
  return match?.[1]?.toUpperCase();
}
