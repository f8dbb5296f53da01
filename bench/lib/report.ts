/** Plain-text tables for the terminal (and for pasting into docs/performance.md as-is). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** A figure with fixed decimals; NaN (no sample) shows as a dash. */
export function figure(value: number, decimals = 0): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : '-';
}

/** A figure followed by its ratio to the baseline's, e.g. `1523 (1.87x)`. */
export function withRatio(value: number, baseline: number | undefined, decimals = 0): string {
  if (baseline === undefined || !Number.isFinite(value)) return figure(value, decimals);
  if (baseline === 0) return `${figure(value, decimals)} (${value === 0 ? '1.00x' : 'n/a'})`;
  return `${figure(value, decimals)} (${(value / baseline).toFixed(2)}x)`;
}

export const mebibytes = (bytes: number) => bytes / (1024 * 1024);

export function passMark(pass: boolean): string {
  return pass ? 'PASS' : 'MISS';
}
