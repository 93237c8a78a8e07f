/**
 * The one CLI table helper: rows of text (the first is the header) as left-aligned columns two
 * spaces apart, without trailing blanks. Columns listed in `alignRight` (numbers) align right.
 */
export function formatTable(
  rows: readonly (readonly string[])[],
  options: { alignRight?: number[] } = {},
): string {
  const right = new Set(options.alignRight ?? []);
  const columns = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) =>
          right.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
