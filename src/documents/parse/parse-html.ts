import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";
import { markdownBlocks, type ParsedDocument } from "./parsed-document.ts";

const turndown = new TurndownService({
  headingStyle: "atx",
  codeBlockStyle: "fenced",
  bulletListMarker: "-",
});

/** HTML as Markdown: the readable part of a web page (Readability), or the whole body of a plain document. */
export function htmlToMarkdown(html: string, readable = true): string {
  const { document } = parseHTML(
    html.includes("<html") ? html : `<!doctype html><html><body>${html}</body></html>`,
  );
  let body: string | undefined;
  if (readable) {
    // Readability mutates the document it reads: give it a clone and keep the original for the fallback.
    const article = new Readability(document.cloneNode(true) as unknown as Document).parse();
    if (article?.content != null && (article.textContent ?? "").trim().length > 0) body = article.content;
  }
  body ??= document.body?.innerHTML ?? html;
  const title = readable ? document.querySelector("title")?.textContent?.trim() : undefined;
  const markdown = turndown.turndown(body);
  return title !== undefined && title !== "" && !markdown.includes(title)
    ? `# ${title}\n\n${markdown}`
    : markdown;
}

/** Parses an HTML page into Markdown blocks. */
export function parseHtml(content: Uint8Array): ParsedDocument {
  return markdownBlocks(htmlToMarkdown(new TextDecoder().decode(content)), "html");
}
