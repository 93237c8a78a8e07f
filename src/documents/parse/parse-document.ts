import { extname } from "node:path";
import { DocumentError } from "../errors.ts";
import { parseDocx } from "./parse-docx.ts";
import { parseHtml } from "./parse-html.ts";
import { parsePdf } from "./parse-pdf.ts";
import {
  createTextBuilder,
  type DocumentFormat,
  markdownBlocks,
  type ParsedDocument,
} from "./parsed-document.ts";

const byExtension: Record<string, DocumentFormat> = {
  ".pdf": "pdf",
  ".docx": "docx",
  ".html": "html",
  ".htm": "html",
  ".md": "markdown",
  ".markdown": "markdown",
  ".txt": "text",
  ".text": "text",
  ".csv": "csv",
  ".json": "text",
};

export const mimeTypes: Record<DocumentFormat, string> = {
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  html: "text/html",
  markdown: "text/markdown",
  text: "text/plain",
  csv: "text/csv",
};

/** The format of an upload: its magic bytes first (a PDF named .txt is still a PDF), then its extension. */
export function detectFormat(filename: string, content: Uint8Array): DocumentFormat {
  const head = Buffer.from(content.subarray(0, 8)).toString("latin1");
  if (head.startsWith("%PDF-")) return "pdf";
  const extension = extname(filename).toLowerCase();
  const named = byExtension[extension];
  if (head.startsWith("PK\u0003\u0004")) {
    if (named === "docx") return "docx";
    throw new DocumentError(
      "unsupported_file",
      `${filename} is a ZIP archive; of the ZIP-based formats only .docx is supported.`,
    );
  }
  if (named !== undefined) return named;
  // An OLE2 container: legacy .doc, or an encrypted .docx.
  if (head.startsWith("\u00d0\u00cf\u0011\u00e0"))
    throw new DocumentError(
      "unsupported_file",
      `${filename} is a legacy or encrypted Office file; save it as an unencrypted .docx.`,
    );
  if (looksLikeText(content))
    return /<html|<body|<p>/i.test(Buffer.from(content.subarray(0, 2048)).toString()) ? "html" : "text";
  throw new DocumentError(
    "unsupported_file",
    `The format of ${filename} is not supported; use PDF, DOCX, HTML, Markdown, plain text or CSV.`,
  );
}

function looksLikeText(content: Uint8Array): boolean {
  const sample = content.subarray(0, 4096);
  return !sample.includes(0) && decodeUtf8(sample, true) !== undefined;
}

function decodeUtf8(content: Uint8Array, partial = false): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(content, { stream: partial });
  } catch {
    return undefined;
  }
}

function textOf(content: Uint8Array, filename: string): string {
  const text = decodeUtf8(content);
  if (text === undefined)
    throw new DocumentError("invalid_file", `${filename} is not valid UTF-8 text; convert it to UTF-8.`);
  return text.replace(/^\uFEFF/, "");
}

/** CSV: one block per row, header row included, so a chunk holds whole rows. */
function parseCsv(text: string): ParsedDocument {
  const builder = createTextBuilder();
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) builder.add(line);
  return builder.build("csv");
}

/** Plain text: paragraphs at blank lines. */
function parseText(text: string): ParsedDocument {
  const builder = createTextBuilder();
  for (const paragraph of text.replace(/\r\n?/g, "\n").split(/\n\s*\n/)) builder.add(paragraph);
  return builder.build("text");
}

/**
 * Parses an uploaded document into text and structure. Throws `DocumentError` with a message that
 * says what to fix for unsupported, corrupt, encrypted or text-less files.
 */
export async function parseDocument(filename: string, content: Uint8Array): Promise<ParsedDocument> {
  const format = detectFormat(filename, content);
  let document: ParsedDocument;
  switch (format) {
    case "pdf":
      document = await parsePdf(content);
      break;
    case "docx":
      document = await parseDocx(content);
      break;
    case "html":
      document = parseHtml(content);
      break;
    case "markdown":
      document = markdownBlocks(textOf(content, filename));
      break;
    case "csv":
      document = parseCsv(textOf(content, filename));
      break;
    default:
      document = parseText(textOf(content, filename));
  }
  if (document.text.trim() === "") throw new DocumentError("no_text", `${filename} holds no text to index.`);
  return document;
}
