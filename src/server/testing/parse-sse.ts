/** The `data:` payloads of an SSE body, in order (multi-line data joined by newlines). */
export function parseSseData(body: string): string[] {
  const events: string[] = [];
  for (const block of body.split(/\r?\n\r?\n/)) {
    const lines = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    if (lines.length > 0) events.push(lines.join("\n"));
  }
  return events;
}
