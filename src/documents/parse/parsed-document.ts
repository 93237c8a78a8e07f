/** One structural unit of a document: a heading, a paragraph, a table row, a list item. */
export interface ParsedBlock {
  /** UTF-16 offsets into `ParsedDocument.text`. */
  start: number;
  end: number;
  /** 1-based page, for paged formats (PDF). */
  page?: number;
  heading: boolean;
}

/** A document reduced to text with its structure: what chunking and citations work from. */
export interface ParsedDocument {
  /** Markdown for structured formats, the text itself otherwise. */
  text: string;
  blocks: ParsedBlock[];
  /** Page count for paged formats. */
  pages: number | null;
  format: DocumentFormat;
}

export type DocumentFormat = "pdf" | "docx" | "html" | "markdown" | "text" | "csv";

/** Builds a document's text block by block, separating blocks with a blank line. */
export function createTextBuilder() {
  let text = "";
  const blocks: ParsedBlock[] = [];
  return {
    add(content: string, options: { page?: number; heading?: boolean } = {}): void {
      const trimmed = content.trim();
      if (trimmed === "") return;
      if (text.length > 0) text += "\n\n";
      const start = text.length;
      text += trimmed;
      blocks.push({
        start,
        end: text.length,
        heading: options.heading ?? false,
        ...(options.page === undefined ? {} : { page: options.page }),
      });
    },
    build(format: DocumentFormat, pages: number | null = null): ParsedDocument {
      return { text, blocks, pages, format };
    },
  };
}

/**
 * Splits Markdown into blocks: a heading line is a block of its own, other text is split at blank
 * lines; fenced code stays whole.
 */
export function markdownBlocks(markdown: string, format: DocumentFormat = "markdown"): ParsedDocument {
  const builder = createTextBuilder();
  let paragraph: string[] = [];
  let fenced = false;
  const flush = () => {
    builder.add(paragraph.join("\n"));
    paragraph = [];
  };
  for (const line of markdown.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (!fenced && /^#{1,6}\s+\S/.test(line)) {
      flush();
      builder.add(line, { heading: true });
    } else if (!fenced && line.trim() === "") {
      flush();
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return builder.build(format);
}
