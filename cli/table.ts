// Tables as aligned text (the terminal) or GitHub Markdown (report.md), from the same rows.

export interface Table {
  headers: string[];
  /** 'r' right-aligns a column (numbers). */
  align: Array<'l' | 'r'>;
  rows: string[][];
}

export function textTable(t: Table, indent = ''): string {
  const widths = t.headers.map((h, i) => Math.max(len(h), ...t.rows.map((r) => len(r[i] ?? ''))));
  const pad = (s: string, i: number) => (t.align[i] === 'r' ? s.padStart(widths[i]! + s.length - len(s)) : s.padEnd(widths[i]! + s.length - len(s)));
  const line = (cells: string[]) => indent + cells.map((c, i) => pad(c, i)).join('  ').trimEnd();
  return [line(t.headers), indent + widths.map((w) => '─'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function markdownTable(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `| ${t.align.map((a) => (a === 'r' ? '---:' : ':---')).join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Display width: code points, so '×' and '·' count once. */
function len(s: string): number {
  return [...s].length;
}

export const fmt = {
  ms: (v: number | undefined): string => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3)),
  x: (v: number | undefined): string =>
    v === undefined || !Number.isFinite(v) ? '—' : `${v >= 10 ? v.toFixed(0) : v >= 0.1 ? v.toFixed(1) : v.toPrecision(2)}×`,
  pct: (v: number): string => `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`,
  gflops: (v: number | undefined): string => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  n: (v: number | undefined): string => (v === undefined ? '—' : v >= 1024 && v % 1024 === 0 ? `${v / 1024}k` : String(v)),
  exp: (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2)),
  bytes: (v: number | null | undefined): string =>
    v === null || v === undefined ? '—' : v >= 2 ** 30 ? `${(v / 2 ** 30).toFixed(2)} GiB` : `${(v / 2 ** 20).toFixed(0)} MiB`,
};
