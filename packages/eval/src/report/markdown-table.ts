/**
 * Markdown tables and the number formats the experiment reports use, so every
 * section renders figures the same way (rates as percentages with the counts
 * they come from, missing values as blanks, "nothing to measure" as n/a).
 */

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** per column: 'left' or 'right' (default: the first column left, the others right) */
  align?: readonly ('left' | 'right')[];
}

/** A GitHub-flavoured Markdown table; `|` and line breaks inside cells are escaped. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly Cell[])[], opts: TableOptions = {}): string {
  if (headers.length === 0) throw new RangeError('a table needs at least one column');
  for (const [i, row] of rows.entries()) {
    if (row.length !== headers.length) throw new RangeError(`table row ${i + 1} has ${row.length} cells for ${headers.length} columns`);
  }
  const align = headers.map((_, i) => opts.align?.[i] ?? (i === 0 ? 'left' : 'right'));
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(headers.map(escapeCell)),
    `|${align.map((a) => (a === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => line(r.map((c) => escapeCell(cellText(c))))),
  ].join('\n') + '\n';
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '';
  if (typeof c === 'number') return Number.isNaN(c) ? 'n/a' : String(c);
  return c;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A share in [0, 1] as a percentage (`digits` decimals); NaN = nothing to measure (n/a); undefined = blank. */
export function formatPercent(rate: number | null | undefined, digits = 1): string {
  if (rate === null || rate === undefined) return '';
  return Number.isNaN(rate) ? 'n/a' : `${(100 * rate).toFixed(digits)}%`;
}

/** A rate with the counts behind it, e.g. "98.9% (91/92)". */
export function formatRate(r: { rate: number | null; fooled: number; eligible: number } | null | undefined, digits = 1): string {
  if (!r) return '';
  // JSON writes NaN (no eligible sample) as null
  return `${formatPercent(r.rate ?? NaN, digits)} (${r.fooled}/${r.eligible})`;
}

/** A number with fixed decimals; undefined / null = blank, NaN = n/a. */
export function formatFixed(value: number | null | undefined, digits: number): string {
  if (value === null || value === undefined) return '';
  return Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

/** A difference in percentage points with its sign, e.g. "+6.3" / "-12.9". */
export function formatPoints(points: number | null | undefined, digits = 1): string {
  if (points === null || points === undefined) return '';
  if (Number.isNaN(points)) return 'n/a';
  const text = points.toFixed(digits);
  return points > 0 && Number(text) !== 0 ? `+${text}` : text.replace(/^-(0\.?0*)$/, '$1');
}
