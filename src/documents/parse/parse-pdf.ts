import { extractText, getDocumentProxy } from "unpdf";
import { DocumentError } from "../errors.ts";
import { createTextBuilder, type ParsedDocument } from "./parsed-document.ts";

/**
 * Text of a PDF page by page (through unpdf's PDF.js build), so chunks know their page. A PDF with
 * pages but no text layer is a scan: refused with a message that says OCR is needed.
 */
export async function parsePdf(content: Uint8Array): Promise<ParsedDocument> {
  let pages: string[];
  let totalPages: number;
  try {
    // PDF.js detaches the buffer it is given: hand it a copy.
    const proxy = await getDocumentProxy(new Uint8Array(content), { verbosity: 0 });
    try {
      const result = await extractText(proxy, { mergePages: false });
      pages = result.text;
      totalPages = result.totalPages;
    } finally {
      await proxy.cleanup();
    }
  } catch (error) {
    const name = (error as { name?: string }).name ?? "";
    if (name === "PasswordException")
      throw new DocumentError(
        "encrypted",
        "The PDF is encrypted (password-protected); remove the password and upload it again.",
        { cause: error },
      );
    throw new DocumentError(
      "invalid_file",
      `The PDF cannot be read (${(error as Error).message}); it may be corrupt or truncated.`,
      { cause: error },
    );
  }
  const builder = createTextBuilder();
  for (const [index, pageText] of pages.entries()) {
    for (const paragraph of pageText.replace(/\r\n?/g, "\n").split(/\n\s*\n/)) {
      builder.add(paragraph.replace(/[ \t]+\n/g, "\n"), { page: index + 1 });
    }
  }
  const document = builder.build("pdf", totalPages);
  if (document.text.trim().length === 0) {
    throw new DocumentError(
      "no_text",
      `The PDF has ${totalPages} page(s) but no text layer (a scan?). Bastion does not run OCR: upload a PDF with text, or OCR it first.`,
    );
  }
  return document;
}
