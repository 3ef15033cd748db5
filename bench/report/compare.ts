// Two bench runs side by side: what a kernel change did. Reads two results.json (or the
// directories holding them, as `npm start` / `npx blocksparse bench` write them) and prints, for
// every measurement both have, the median before and after and their ratio; --md for Markdown.
//   node --import tsx bench/report/compare.ts bench/results/<before> bench/results/<after> [--md] [--impl fused]
// Drawn from the JSON alone (docs/DESIGN.md: tables and plots come from it), with the CLI's own reader
// and table code, so that it reads every schema the CLI writes.
import { parseFlags } from '../../cli/flags.js';
import { hostRuntime } from '../../cli/runtime.js';
import { readResults } from '../../cli/report/write.js';
import { fmt, markdownTable, textTable, type Table } from '../../cli/table.js';
import type { Measurement } from '../../cli/results.js';

const flags = parseFlags({ md: 'bool', impl: 'string' });
const md = flags.bool('md');
const impl = flags.string('impl');
const paths = flags.positionals;
if (paths.length !== 2) {
  console.error('usage: compare.ts <before results.json|dir> <after results.json|dir> [--md] [--impl fused|unfused|naive]');
  process.exit(2);
}

const rt = await hostRuntime();
const [before, after] = await Promise.all(paths.map((p) => readResults(p, rt)));
const key = (m: Measurement) => `${m.run}|${m.layout}|${m.impl}|${m.op}|${m.N}`;
const old = new Map(before!.results.measurements.map((m) => [key(m), m]));

const rows: string[][] = [];
const ratios: number[] = [];
for (const m of after!.results.measurements) {
  if (impl && m.impl !== impl) continue;
  const b = old.get(key(m));
  if (!b) continue;
  const r = b.ms.median / m.ms.median;
  ratios.push(r);
  rows.push([m.run, m.layout, m.impl, m.op, fmt.n(m.N), fmt.ms(b.ms.median), fmt.ms(m.ms.median), fmt.x(r)]);
}
if (rows.length === 0) {
  console.error('no measurement appears in both runs (same run id, layout, impl, op and N)');
  process.exit(1);
}
const table: Table = {
  headers: ['run', 'layout', 'impl', 'op', 'N', 'before ms', 'after ms', '× faster'],
  align: ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r'],
  rows,
};
const geo = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
const head = `${before!.results.createdAt} → ${after!.results.createdAt}: ${rows.length} measurements in both, geometric mean ${fmt.x(geo)} faster`;
console.log(md ? `${head}\n\n${markdownTable(table)}` : `${head}\n${textTable(table)}`);
