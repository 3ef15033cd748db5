// Tables (Markdown) and plots (SVG, through the app's Vega-Lite renderer) of bench/gqa-ort.ts and
// bench/decode.ts result files, written beside each file: X.json → X.md, X.svg.
//   node --import tsx bench/report/ort.ts bench/results/gqa-ort.json bench/results/decode-cpu.json ...
import { readFile, writeFile } from 'node:fs/promises';
import { renderSvg } from '../../cli/report/plots.js';
import { markdownTable } from '../../cli/table.js';
import { decodeTable, gqaOrtTable, gqaSweepTable, type DecodeRow, type GqaOrtRow, type MachineInfo } from './ort-tables.js';

type Spec = Record<string, unknown>;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const frame = (title: string, spec: Spec): Spec => ({
  $schema: SCHEMA, title: { text: title, anchor: 'start', fontSize: 13 }, background: 'white',
  config: { font: 'sans-serif', legend: { orient: 'bottom', direction: 'vertical', columns: 2, labelLimit: 0 } }, ...spec,
});

function machineLine(m: MachineInfo): string {
  return `${m.label}: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}${m.shared ? ' — shared with other work: timings are noisy' : ''}`;
}

/** Forward time against density at the sweep's N: ours per thread count, the peers as points. */
function gqaPlot(doc: { results: GqaOrtRow[] }): Spec {
  const values = doc.results.filter((r) => r.ok && r.op === 'forward').map((r) => ({
    series: `${r.impl === 'ours' ? 'ours' : r.impl} ${r.threads}t`, density: r.density, ms: r.ms, N: `N ${r.N}`, scaled: r.scaledBy > 1 ? `×${r.scaledBy}` : '',
  }));
  return frame('GQA prefill forward vs ONNX Runtime (CPU): time against layout density', {
    data: { values },
    facet: { column: { field: 'N', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 320, height: 240,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'density', type: 'quantitative', title: 'density (kept blocks / all blocks)', axis: { format: '.0%' } },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms per call (median)' },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  });
}

/** Step time against context length, log-log, one line per implementation and thread count. */
function decodePlot(doc: { results: DecodeRow[] }): Spec {
  const values = doc.results.filter((r) => r.ok).map((r) => ({
    series: r.impl === 'ours' ? (r.backend === 'webgpu' ? 'ours WebGPU' : `ours CPU ${r.threads}t`) : `${r.impl} ${r.threads}t`, context: r.context, ms: r.ms,
  }));
  return frame('Decode step vs context length (one query, Phi-3-small pattern)', {
    data: { values }, width: 360, height: 260,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'context', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'context (tokens in the cache)', axis: { values: [...new Set(values.map((v) => v.context))], format: 'd' } },
      y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms per step (median)' },
      color: { field: 'series', type: 'nominal', title: null },
    },
  });
}

for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(await readFile(file, 'utf8')) as { machine: MachineInfo; results: Array<GqaOrtRow & DecodeRow>; breakEven?: Array<{ text: string; N: number }>; copy?: unknown };
  const isDecode = doc.results.some((r) => 'context' in r);
  const parts = [`# ${file.replace(/^.*\//, '')}`, '', machineLine(doc.machine), ''];
  let spec: Spec;
  if (isDecode) {
    parts.push(markdownTable(decodeTable(doc)));
    spec = decodePlot(doc);
  } else {
    parts.push(markdownTable(gqaOrtTable(doc)), '');
    const sweepN = doc.breakEven?.[0]?.N ?? doc.results.find((r) => r.layout.startsWith('window-'))?.N;
    if (sweepN) parts.push(`Density sweep at N ${sweepN}:`, '', markdownTable(gqaSweepTable(doc, sweepN)), '');
    for (const b of doc.breakEven ?? []) parts.push(`- ${b.text}`);
    const sliced = doc.results.filter((r) => r.ok && r.scaledBy > 1);
    if (sliced.length) parts.push('', `ONNX Runtime times marked (h×s) ran on h query heads and are scaled by s = 32/h: its [B, H, S, T] probability buffer for all heads does not fit.`);
    const failed = doc.results.filter((r) => !r.ok);
    for (const r of failed) parts.push(`- ${r.impl} ${r.threads}t N ${r.N}: ${r.note}`);
    spec = gqaPlot(doc);
  }
  const base = file.replace(/\.json$/, '');
  await writeFile(`${base}.md`, parts.join('\n') + '\n');
  await writeFile(`${base}.svg`, await renderSvg(spec));
  console.log(`wrote ${base}.md, ${base}.svg`);
}
