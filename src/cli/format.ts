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

/** Longer words are cut in the middle in a message (a path, up to PATH_MAX, is not); longer messages too. */
const MAX_WORD = 4096;
const MAX_MESSAGE = 8192;

/**
 * An error message of bounded length, to print: a value it quotes from a file (a 10 MB CSV cell, a
 * line with no newline) keeps its start and end, and says how much was cut.
 */
export function boundedMessage(message: string): string {
  const cut = (text: string, keep: number) =>
    `${text.slice(0, keep)}...(${text.length - keep - 20} characters cut)...${text.slice(-20)}`;
  // Split on white space, not matched by /\S{n,}/: V8 runs out of stack on a 10 MB word.
  const words = message
    .split(/(\s+)/)
    .map((word) => (word.length > MAX_WORD ? cut(word, 200) : word))
    .join('');
  return words.length > MAX_MESSAGE ? cut(words, MAX_MESSAGE - 200) : words;
}
