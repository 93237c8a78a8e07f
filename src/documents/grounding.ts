import type { SearchHit } from "./retrieval.ts";

/**
 * The system text that grounds an answer in retrieved passages, numbered from 1 so the model can
 * cite them as `[n]`. Passages are quoted whole: the citations must point at what the model saw.
 */
export function groundingPrompt(hits: SearchHit[]): string {
  if (hits.length === 0)
    return "No passage of the company's documents matched this question. Say so if the answer depends on them.";
  const sources = hits
    .map((hit, at) => {
      const where = hit.page === null ? hit.filename : `${hit.filename}, page ${hit.page}`;
      return `[${at + 1}] (${where})\n${hit.text}`;
    })
    .join("\n\n");
  return `Answer from the company's documents below. After each statement taken from a passage, cite it with its number in square brackets, like [1]. If the passages do not contain the answer, say so.\n\n${sources}`;
}
