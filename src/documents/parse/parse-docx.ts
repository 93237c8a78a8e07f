import mammoth from "mammoth";
import { DocumentError } from "../errors.ts";
import { htmlToMarkdown } from "./parse-html.ts";
import { markdownBlocks, type ParsedDocument } from "./parsed-document.ts";

/** A Word document through mammoth (headings kept as HTML headings), then Markdown blocks. */
export async function parseDocx(content: Uint8Array): Promise<ParsedDocument> {
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: Buffer.from(content) })).value;
  } catch (error) {
    throw new DocumentError(
      "invalid_file",
      `The DOCX file cannot be read (${(error as Error).message}); it may be corrupt, or encrypted.`,
      { cause: error },
    );
  }
  const document = markdownBlocks(htmlToMarkdown(html, false), "docx");
  if (document.text.trim() === "")
    throw new DocumentError("no_text", "The DOCX file holds no text (images only?); nothing can be indexed.");
  return document;
}
