// Issue 6's curve: time vs N on the H100 machine, log-log, forward and a training step
// (attention + attentionBackward) side by side: our WebGPU kernels, PyTorch FlexAttention in fp32
// and fp16, and our CPU engine at 16 threads, all on the same layout. Drawn from the JSON alone.
//   node --import tsx bench/gpu/versus-plot.ts [bench/results/h100] → <dir>/versus.svg
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../../cli/flags.js';
import { renderSvg } from '../../cli/report/plots.js';

const dir = parseFlags({}).positionals[0] ?? 'bench/results/h100';
const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

interface Point {
  N: number;
  ms: number;
  engine: string;
  op: string;
}
const points: Point[] = [];
const add = (engine: string, N: number, forward: number | undefined, step: number | undefined) => {
  if (forward !== undefined) points.push({ N, ms: forward, engine, op: 'forward' });
  if (step !== undefined) points.push({ N, ms: step, engine, op: 'forward + backward' });
};

for (const r of read('webgpu-versus.json').results.filter((x: { tile: string }) => x.tile === 'auto')) {
  add('ours, WebGPU f32', r.N, r.ms, r.ms + r.backwardMs);
}
for (const r of read('flex-attention.json').results) {
  add('FlexAttention f32 (no TF32)', r.N, r.fp32?.forwardMs, r.fp32?.forwardBackwardMs);
  add('FlexAttention f16', r.N, r.fp16?.forwardMs, r.fp16?.forwardBackwardMs);
}
for (const r of read('end-to-end-cpu16.json').results) {
  // kernel time with resident operands: the CPU's counterpart of the GPU's timestamp queries
  const f = r.forward?.device?.kernelMs;
  const b = r.backward?.device?.kernelMs;
  add('ours, CPU 16 threads f32', r.N, f ?? undefined, f != null && b != null ? f + b : undefined);
}

const Ns = [...new Set(points.map((p) => p.N))].sort((a, b) => a - b);
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: 'Block-sparse attention on the H100 machine: time vs N (log-log)', anchor: 'start', fontSize: 13 },
  background: 'white',
  config: { font: 'sans-serif', axis: { labelFontSize: 10, titleFontSize: 11 }, legend: { orient: 'bottom', direction: 'vertical', columns: 2, labelFontSize: 10, labelLimit: 0, titleLimit: 0 } },
  data: { values: points },
  facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['forward', 'forward + backward'] } },
  spec: {
    width: 300,
    height: 230,
    mark: { type: 'line', point: true, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'N', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'sequence length N', axis: { values: Ns, format: 'd', labelOverlap: false, labelFlush: true } },
      y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms (kernel time, median)' },
      color: { field: 'engine', type: 'nominal', title: 'B=1, H=16, D=64, block 128; local 4 + every 8th column' },
    },
  },
};
const out = join(dir, 'versus.svg');
writeFileSync(out, await renderSvg(spec));
console.log(`wrote ${out} (${points.length} points)`);
