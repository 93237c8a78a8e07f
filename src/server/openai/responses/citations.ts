import { foldText } from "../../../documents/index/chunk-index.ts";

/** A source the model was shown, numbered from 1 in the prompt. */
export interface CitableSource {
  fileId: string;
  filename: string;
  text: string;
}

export interface FileCitation {
  type: "file_citation";
  file_id: string;
  filename: string;
  /** Position in the answer text the citation belongs to. */
  index: number;
}

const marker = /\[(\d{1,2})\]/g;

/**
 * Turns `[n]` markers in a streamed answer into `file_citation` annotations: the marker leaves the
 * text and the annotation takes its position, as OpenAI's answers carry them. A possibly split
 * marker (`[`, `[1`) is held back until the next delta settles it. Unknown numbers stay as text.
 */
export function createCitationFilter(sources: CitableSource[]) {
  let pending = "";
  let emitted = 0;
  const annotations: FileCitation[] = [];

  function process(text: string, final: boolean): { text: string; annotations: FileCitation[] } {
    let out = "";
    const added: FileCitation[] = [];
    let rest = text;
    pending = "";
    if (!final) {
      // Hold back a possibly split marker and the spaces before it: "midnight [" + "1]." must
      // come out as "midnight." with the citation, not "midnight ." .
      const open = rest.lastIndexOf("[");
      let hold = open >= 0 && /^\[\d{0,2}$/.test(rest.slice(open)) ? open : rest.length;
      while (hold > 0 && (rest[hold - 1] === " " || rest[hold - 1] === "\t")) hold--;
      pending = rest.slice(hold);
      rest = rest.slice(0, hold);
    }
    let last = 0;
    for (const match of rest.matchAll(marker)) {
      const source = sources[Number(match[1]) - 1];
      if (source === undefined) continue;
      out += rest.slice(last, match.index);
      // "text [1]." reads as "text." with the citation where the marker stood.
      if (out.endsWith(" ")) out = out.slice(0, -1);
      last = match.index + match[0].length;
      const annotation: FileCitation = {
        type: "file_citation",
        file_id: source.fileId,
        filename: source.filename,
        index: emitted + out.length,
      };
      added.push(annotation);
    }
    out += rest.slice(last);
    emitted += out.length;
    annotations.push(...added);
    return { text: out, annotations: added };
  }

  return {
    push(delta: string) {
      return process(pending + delta, false);
    },
    flush() {
      return process(pending, true);
    },
    annotations: () => [...annotations],
  };
}

function words(text: string): string[] {
  return [...foldText(text).matchAll(/[\p{L}\p{N}]{2,}/gu)].map((match) => match[0]);
}

/**
 * For answers without markers: each sentence whose words mostly (60 % or more, at least two words)
 * occur in one source is cited to the best such source, at the sentence's end.
 */
export function attributeSentences(answer: string, sources: CitableSource[]): FileCitation[] {
  const vocabularies = sources.map((source) => new Set(words(source.text)));
  const out: FileCitation[] = [];
  for (const match of answer.matchAll(/[^.!?\n]+[.!?]*/g)) {
    const sentenceWords = words(match[0]);
    if (sentenceWords.length < 2) continue;
    let best = -1;
    let bestRatio = 0;
    for (const [at, vocabulary] of vocabularies.entries()) {
      const ratio = sentenceWords.filter((word) => vocabulary.has(word)).length / sentenceWords.length;
      if (ratio > bestRatio) {
        best = at;
        bestRatio = ratio;
      }
    }
    const source = sources[best];
    if (source === undefined || bestRatio < 0.6) continue;
    const end = match.index + match[0].trimEnd().length;
    out.push({ type: "file_citation", file_id: source.fileId, filename: source.filename, index: end });
  }
  return out;
}
