import type { ParsedDocument } from "./parse/parsed-document.ts";
import type { TextTokenizer } from "./tokenizer.ts";

export interface ChunkingOptions {
  maxTokens: number;
  overlapTokens: number;
}

/** One piece of a document as indexed: its text and where it sits in the parsed text. */
export interface Chunk {
  seq: number;
  text: string;
  /** UTF-16 offsets into the parsed text. */
  start: number;
  end: number;
  page: number | null;
  tokens: number;
}

interface Piece {
  start: number;
  end: number;
  page: number | null;
  heading: boolean;
  tokens: number;
}

const sentenceEnd = /(?<=[.!?;:])\s+(?=\S)|\n+/g;

/** Splits a range of text at `pattern` matches into pieces that each fit `maxTokens`, words last. */
function splitRange(
  text: string,
  start: number,
  end: number,
  maxTokens: number,
  tokenizer: TextTokenizer,
  level: 0 | 1 | 2,
): Array<{ start: number; end: number; tokens: number }> {
  const tokens = tokenizer.count(text.slice(start, end));
  if (tokens <= maxTokens) return [{ start, end, tokens }];
  if (level === 2) {
    // No boundary left: cut by characters proportionally to the token count.
    const parts = Math.ceil(tokens / maxTokens);
    const size = Math.ceil((end - start) / parts);
    const out: Array<{ start: number; end: number; tokens: number }> = [];
    for (let at = start; at < end; at += size) {
      const stop = Math.min(end, at + size);
      out.push({ start: at, end: stop, tokens: tokenizer.count(text.slice(at, stop)) });
    }
    return out;
  }
  const pattern = level === 0 ? sentenceEnd : /\s+/g;
  const cuts: number[] = [start];
  const slice = text.slice(start, end);
  for (const match of slice.matchAll(pattern)) {
    const at = start + match.index + match[0].length;
    if (at > start && at < end) cuts.push(at);
  }
  cuts.push(end);
  if (cuts.length <= 2) return splitRange(text, start, end, maxTokens, tokenizer, level === 0 ? 1 : 2);
  // Greedily merge consecutive units while they fit.
  const out: Array<{ start: number; end: number; tokens: number }> = [];
  let current: { start: number; end: number; tokens: number } | undefined;
  for (let index = 0; index + 1 < cuts.length; index++) {
    const unitStart = cuts[index]!;
    const unitEnd = cuts[index + 1]!;
    const unitTokens = tokenizer.count(text.slice(unitStart, unitEnd));
    if (unitTokens > maxTokens) {
      if (current !== undefined) out.push(current);
      current = undefined;
      out.push(...splitRange(text, unitStart, unitEnd, maxTokens, tokenizer, level === 0 ? 1 : 2));
      continue;
    }
    if (current !== undefined && current.tokens + unitTokens <= maxTokens) {
      current = { start: current.start, end: unitEnd, tokens: current.tokens + unitTokens };
    } else {
      if (current !== undefined) out.push(current);
      current = { start: unitStart, end: unitEnd, tokens: unitTokens };
    }
  }
  if (current !== undefined) out.push(current);
  return out;
}

/**
 * Cuts a parsed document into chunks of at most `maxTokens` tokens (counted by the embedding
 * model's tokenizer) that overlap by about `overlapTokens`. Structure-aware: blocks (paragraphs,
 * headings, rows) are kept whole when they fit, a chunk never spans a page break and one at least
 * half full ends before a heading, and an over-long block is cut at sentences, then words.
 */
export function chunkDocument(
  document: ParsedDocument,
  options: ChunkingOptions,
  tokenizer: TextTokenizer,
): Chunk[] {
  const maxTokens = Math.max(1, options.maxTokens);
  const overlap = Math.min(options.overlapTokens, Math.floor(maxTokens / 2));
  const pieces: Piece[] = [];
  for (const block of document.blocks) {
    for (const part of splitRange(document.text, block.start, block.end, maxTokens, tokenizer, 0)) {
      pieces.push({ ...part, page: block.page ?? null, heading: block.heading });
    }
  }
  const chunks: Chunk[] = [];
  let first = 0;
  while (first < pieces.length) {
    let last = first;
    let tokens = pieces[first]!.tokens;
    while (last + 1 < pieces.length) {
      const next = pieces[last + 1]!;
      if (tokens + next.tokens > maxTokens) break;
      // A page break always ends a chunk (so its page number is exact); a heading ends one that is half full.
      if (next.page !== pieces[last]!.page) break;
      if (tokens >= maxTokens / 2 && next.heading) break;
      last++;
      tokens += next.tokens;
    }
    const start = pieces[first]!.start;
    const end = pieces[last]!.end;
    chunks.push({
      seq: chunks.length,
      text: document.text.slice(start, end),
      start,
      end,
      page: pieces[first]!.page,
      tokens,
    });
    if (last + 1 >= pieces.length) break;
    // The next chunk starts far enough back to repeat about `overlap` tokens, always moving forward.
    let next = last + 1;
    let repeated = 0;
    const page = pieces[next]!.page;
    while (
      next - 1 > first &&
      pieces[next - 1]!.page === page &&
      repeated + pieces[next - 1]!.tokens <= overlap
    ) {
      next--;
      repeated += pieces[next]!.tokens;
    }
    first = next;
  }
  return chunks;
}
