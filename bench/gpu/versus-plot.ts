// Issue 6's curve: time vs N on the GPU machine, log-log, forward and a training step (attention +
// attentionBackward) side by side: our WebGPU kernels (one line per program the versus bench timed:
// f32, plain f16, f16 on the matrix units), PyTorch FlexAttention in fp32 and fp16, and our CPU
// engine at 16 threads, all on the same layout. Drawn from the JSON alone.
//   node --import tsx bench/gpu/versus-plot.ts [dir] [--ours=webgpu-versus.json] [--flex=flex-attention.json]
//     [--cpu=end-to-end-cpu16.json|none] [--out=versus.svg]      (files in dir, default bench/results/h100; --out relative to it)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseFlags } from '../../cli/flags.js';
import { renderSvg } from '../../cli/report/plots.js';

const flags = parseFlags({ ours: 'string', flex: 'string', cpu: 'string', out: 'string' });
const dir = flags.positionals[0] ?? 'bench/results/h100';
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

/** A record's line: its path (attention.ts --paths), else its dtype (records from before paths). */
const PATH_NAMES: Record<string, string> = {
  f32: 'ours, WebGPU f32',
  f16: 'ours, WebGPU f16 (shader-f16)',
  mma: 'ours, WebGPU f16 on the matrix units',
};
interface OursRecord {
  tile: string;
  N: number;
  path?: string;
  dtype?: string;
  ms?: number;
  backwardMs?: number;
  skipped?: string;
  error?: string;
}
for (const r of read(flags.string('ours', 'webgpu-versus.json')).results as OursRecord[]) {
  if (r.tile !== 'auto' || r.skipped || r.error) continue;
  const engine = PATH_NAMES[r.path ?? (r.dtype === 'float16' ? 'f16' : 'f32')]!;
  add(engine, r.N, r.ms, r.ms !== undefined && r.backwardMs !== undefined ? r.ms + r.backwardMs : undefined);
}
const flex = read(flags.string('flex', 'flex-attention.json'));
for (const r of flex.results) {
  add('FlexAttention f32 (no TF32)', r.N, r.fp32?.forwardMs, r.fp32?.forwardBackwardMs);
  add('FlexAttention f16', r.N, r.fp16?.forwardMs, r.fp16?.forwardBackwardMs);
}
const cpuFile = flags.string('cpu', 'end-to-end-cpu16.json');
if (cpuFile !== 'none' && existsSync(join(dir, cpuFile))) {
  for (const r of read(cpuFile).results) {
    // kernel time with resident operands: the CPU's counterpart of the GPU's timestamp queries
    const f = r.forward?.device?.kernelMs;
    const b = r.backward?.device?.kernelMs;
    add('ours, CPU 16 threads f32', r.N, f ?? undefined, f != null && b != null ? f + b : undefined);
  }
}
const gpu = String(flex.meta?.device ?? 'the GPU machine').replace(/^NVIDIA /, '').replace(/ 80GB HBM3$/, '');

const Ns = [...new Set(points.map((p) => p.N))].sort((a, b) => a - b);
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: `Block-sparse attention on the ${gpu} machine: time vs N (log-log)`, anchor: 'start', fontSize: 13 },
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
const outName = flags.string('out', 'versus.svg');
const out = isAbsolute(outName) ? outName : join(dir, outName);
writeFileSync(out, await renderSvg(spec));
console.log(`wrote ${out} (${points.length} points)`);
