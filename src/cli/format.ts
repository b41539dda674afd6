/** Plain-text tables for terminal output. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  // A reduce, not a spread: a table of 200,000 rows would overflow the call stack.
  const widths = headers.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i].length), h.length));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatLogLine(line: Record<string, unknown>): string {
  const num = (key: string, digits: number) =>
    typeof line[key] === 'number' ? (line[key] as number).toFixed(digits) : '-';
  let text = `episode ${line.episode}  loss ${num('loss', 4)}  acc ${num('accuracy', 4)}  lr ${(line.lr as number).toExponential(2)}  ${num('episodesPerSecond', 2)} ep/s`;
  for (const [key, value] of Object.entries(line)) {
    if (
      ![
        'episode',
        'loss',
        'accuracy',
        'lr',
        'episodesPerSecond',
        'tensors',
        'rssMB',
        'valAccuracy',
        'valCi95',
      ].includes(key) &&
      typeof value === 'number'
    ) {
      text += `  ${key} ${value.toFixed(4)}`;
    }
  }
  if (typeof line.rssMB === 'number') text += `  rss ${line.rssMB} MB`;
  if (typeof line.valAccuracy === 'number')
    text += `  val ${(100 * line.valAccuracy).toFixed(2)} +- ${(100 * (line.valCi95 as number)).toFixed(2)}`;
  return text;
}
