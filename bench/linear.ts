// BlockSparseLinear against dense linear layers: `node --import tsx bench/linear.ts [options]`.
// Writes bench/results/linear.json first, then prints a table made from it (not a test).
//
// Rows: BlockSparseLinear at each density, forward and forward+backward, all on one engine; the
// dense references are the same layer at density 1 (a full layout through the same dds / sdd path:
// the engine's matmul ops are its only matmul, so this is also "dds with an all-ones layout") and a
// plain cache-blocked TypeScript f32 layer (bench/linear-dense.ts; node_modules holds no dense
// matmul package). Medians after warm-up; the engine's layers are timed round-robin, so that other
// load on the machine weighs on every density alike.
//
// Also, forward only, ONNX Runtime's dense Gemm on onnxruntime-web (Wasm) and onnxruntime-node (native),
// where those optional packages are installed (bench/linear-peers.ts).
//
// Options: --in 4096 --out 4096 --rows 512 --block 32 --densities 0.25,0.5,1 --warmup 2 --reps 7
//          --ts-reps 3 (0 skips the TypeScript baseline) --peers 1 (0 skips ONNX Runtime)
//          --wait-quiet 60 (seconds to wait for other work to leave the cores first)
//          --threads N --simd auto|simd|relaxed --backend cpu|webgpu|auto --out-file bench/results/linear.json
import os from 'node:os';
import { createEngine, type EngineOptions } from '../src/engine.js';
import { BlockSparseLinear } from '../src/linear/index.js';
import type { Tensor } from '../src/types.js';
import { denseLinearBackward, denseLinearForward } from './linear-dense.js';
import { runLinearPeers, type LinearPeerResult } from './linear-peers.js';
import { waitForQuiet } from '../cli/peers/machine.js';
import { parseFlags } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { textTable } from '../cli/table.js';
import { writeJson } from '../cli/write-json.js';

const args = parseFlags({
  in: 'int', out: 'int', rows: 'int', block: 'int', densities: 'list', warmup: 'int', reps: 'int', 'ts-reps': 'int', peers: 'int',
  'wait-quiet': 'int', threads: 'int', simd: 'string', backend: 'string', 'out-file': 'string',
});
const config = {
  inFeatures: args.int('in', 4096),
  outFeatures: args.int('out', 4096),
  rows: args.int('rows', 512),
  block: args.int('block', 32),
  densities: args.numbers('densities', [0.25, 0.5, 1]),
  warmup: args.int('warmup', 2, 0),
  reps: args.int('reps', 7),
  tsWarmup: 1,
  tsReps: args.int('ts-reps', 3, 0),
  peers: args.int('peers', 1, 0) !== 0,
  waitQuietS: args.int('wait-quiet', 60, 0),
  seed: 1,
};
const outFile = args.string('out-file', 'bench/results/linear.json');
const engineOptions: EngineOptions = { backend: args.string('backend', 'cpu') as EngineOptions['backend'] };
if (args.has('threads')) engineOptions.threads = args.int('threads', 1);
if (args.has('simd')) engineOptions.simd = args.string('simd') as EngineOptions['simd'];

interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  samplesMs: number[];
  /**
   * Process CPU time (every thread, user + system) per call: steadier than wall time on a busy
   * machine, where other work takes cores away but does not add to this process's CPU time.
   */
  cpuMedianMs: number;
  cpuSamplesMs: number[];
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function summarize(wall: number[], cpu: number[]): Timing {
  return {
    medianMs: median(wall), minMs: Math.min(...wall), maxMs: Math.max(...wall), samplesMs: wall.map(round2),
    cpuMedianMs: median(cpu), cpuSamplesMs: cpu.map(round2),
  };
}

async function time(warmup: number, reps: number, f: () => Promise<unknown> | unknown): Promise<Timing> {
  return (await interleaved(warmup, reps, [f]))[0];
}

/**
 * Times several functions round-robin (rep i of each before rep i + 1 of any), so that whatever
 * else loads the machine weighs on all of them alike and their ratios hold.
 */
async function interleaved(warmup: number, reps: number, fs: (() => Promise<unknown> | unknown)[]): Promise<Timing[]> {
  for (const f of fs) for (let i = 0; i < warmup; i++) await f();
  const wall = fs.map(() => [] as number[]);
  const cpu = fs.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) {
    for (let j = 0; j < fs.length; j++) {
      const c = process.cpuUsage();
      const t = performance.now();
      await fs[j]();
      wall[j].push(performance.now() - t);
      const used = process.cpuUsage(c);
      cpu[j].push((used.user + used.system) / 1000);
    }
  }
  return fs.map((_, j) => summarize(wall[j], cpu[j]));
}

interface Row {
  name: string;
  kind: 'engine' | 'typescript';
  density: number;
  nnz: number;
  weightBytes: number;
  denseWeightBytes: number;
  forward: Timing;
  forwardBackward: Timing | null;
  /** 2·rows·in·out·density / median forward time: the useful work done per second. */
  forwardGflops: number;
  forwardBackwardGflops: number | null;
  speedupVsEngineDense: { forward: number; forwardBackward: number | null } | null;
}

const { inFeatures: inF, outFeatures: out, rows, block } = config;
const quiet = config.waitQuietS > 0 ? await waitForQuiet(config.waitQuietS) : null;
const loadStart = os.loadavg().map((v) => Math.round(v * 100) / 100);
const engine = await createEngine(engineOptions);
const x: Tensor = { data: uniformFloats(rows * inF, 1), shape: [rows, inF] };
const dy: Tensor = { data: uniformFloats(rows * out, 2), shape: [rows, out] };
const flops = (density: number) => 2 * rows * inF * out * density;
const rowsOut: Row[] = [];
let check: { maxAbsDiff: number; maxAbsRef: number } | null = null;

console.error(`bench/linear: [${rows}, ${inF}] → ${out}, block ${block}, densities ${config.densities.join(', ')} on ${engine.backend} (${JSON.stringify(engine.info)})`);
const densities = [...new Set([...config.densities, 1])].sort((a, b) => a - b);
const layers = densities.map((density) => new BlockSparseLinear({ inFeatures: inF, outFeatures: out, density, block, seed: config.seed, engine }));
const forwards = await interleaved(config.warmup, config.reps, layers.map((layer) => () => layer.forward(x)));
const forwardBackwards = await interleaved(config.warmup, config.reps, layers.map((layer) => async () => {
  await layer.forward(x);
  await layer.backward(x, dy);
}));
layers.forEach((layer, i) => {
  const d = layer.density;
  const forward = forwards[i];
  const forwardBackward = forwardBackwards[i];
  rowsOut.push({
    name: `BlockSparseLinear density ${densities[i]}`,
    kind: 'engine',
    density: d,
    nnz: layer.nnz,
    weightBytes: layer.weightBytes,
    denseWeightBytes: layer.denseWeightBytes,
    forward,
    forwardBackward,
    forwardGflops: flops(d) / forward.medianMs / 1e6,
    forwardBackwardGflops: (3 * flops(d)) / forwardBackward.medianMs / 1e6,
    speedupVsEngineDense: null,
  });
  console.error(`  density ${densities[i]}: forward ${forward.medianMs.toFixed(1)} ms, forward+backward ${forwardBackward.medianMs.toFixed(1)} ms`);
});

if (config.tsReps > 0) {
  const dense = layers[densities.indexOf(1)];
  const w = dense.toDense().data;
  const b = dense.bias!.data;
  const forward = await time(config.tsWarmup, config.tsReps, () => denseLinearForward(x.data, w, b, rows, inF, out));
  const forwardBackward = await time(config.tsWarmup, config.tsReps, () => {
    denseLinearForward(x.data, w, b, rows, inF, out);
    denseLinearBackward(x.data, w, dy.data, rows, inF, out);
  });
  rowsOut.push({
    name: 'TypeScript f32 dense (cache-blocked, 1 thread)',
    kind: 'typescript',
    density: 1,
    nnz: dense.nnz,
    weightBytes: dense.denseWeightBytes,
    denseWeightBytes: dense.denseWeightBytes,
    forward,
    forwardBackward,
    forwardGflops: flops(1) / forward.medianMs / 1e6,
    forwardBackwardGflops: (3 * flops(1)) / forwardBackward.medianMs / 1e6,
    speedupVsEngineDense: null,
  });
  // the engine's dense layer and the TypeScript one compute the same thing
  const ref = denseLinearForward(x.data, w, b, rows, inF, out);
  const got = (await dense.forward(x)).data;
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i] - ref[i]));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(ref[i]));
  }
  check = { maxAbsDiff, maxAbsRef };
  console.error(`  TypeScript dense: forward ${forward.medianMs.toFixed(1)} ms, forward+backward ${forwardBackward.medianMs.toFixed(1)} ms`);
}

let peers: LinearPeerResult[] = [];
if (config.peers) {
  const dense = layers[densities.indexOf(1)];
  const expected = (await dense.forward(x)).data;
  peers = await runLinearPeers({
    x: x.data, w: dense.toDense().data, b: dense.bias!.data, rows, inF, out,
    threads: Number(engine.info.threads ?? 1), warmup: config.warmup, reps: config.reps, expected,
  });
  for (const p of peers) console.error(`  ${p.name}: ${p.ok ? `forward ${p.medianMs!.toFixed(1)} ms (max |diff| ${p.maxAbsDiff!.toExponential(2)})` : p.note}`);
}
await engine.close();

const base = rowsOut.find((r) => r.kind === 'engine' && r.density === 1)!;
for (const r of rowsOut) {
  r.speedupVsEngineDense = {
    forward: base.forward.medianMs / r.forward.medianMs,
    forwardBackward: r.forwardBackward && base.forwardBackward ? base.forwardBackward.medianMs / r.forwardBackward.medianMs : null,
  };
}
const quarter = rowsOut.find((r) => r.kind === 'engine' && Math.abs(r.density - 0.25) < 1e-9);
const result = {
  bench: 'linear',
  date: new Date().toISOString(),
  environment: {
    runtime: `node ${process.version}`,
    platform: `${process.platform} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    logicalCpus: os.cpus().length,
    /** 1, 5 and 15 minute load averages when the run began and ended: other work on the machine skews medians. */
    loadAverage: { start: loadStart, end: os.loadavg().map((v) => Math.round(v * 100) / 100) },
    /** How long the run waited for the cores to go quiet, and the busy fraction it then saw. */
    waitedForQuiet: quiet,
    engine: engine.info,
  },
  config: { ...config, densities },
  notes: [
    'dense references: the same engine at density 1 (a full [1, out/block, in/block] layout through the same dds/sdd calls: the engine offers no other dense matmul), and a plain TypeScript f32 layer',
    'forward = one dds matmul + bias; forward+backward = forward, then dds (dx) and sdd (dWeight) and the bias sums',
    'GFLOP/s count only the kept blocks: 2·rows·in·out·density per matmul, three matmuls for forward+backward',
  ],
  results: rowsOut,
  /** ONNX Runtime's dense Gemm, forward only; speedupVsEngineDense = our dense forward time / theirs. */
  peers: peers.map((p) => ({ ...p, speedupVsEngineDense: p.ok ? base.forward.medianMs / p.medianMs! : null })),
  engineVsTypeScriptCheck: check,
  goal: quarter
    ? {
        forwardSpeedupAtDensity025: quarter.speedupVsEngineDense!.forward,
        forwardBackwardSpeedupAtDensity025: quarter.speedupVsEngineDense!.forwardBackward,
        forwardCpuTimeRatioAtDensity025: base.forward.cpuMedianMs / quarter.forward.cpuMedianMs,
        forwardBackwardCpuTimeRatioAtDensity025: base.forwardBackward && quarter.forwardBackward ? base.forwardBackward.cpuMedianMs / quarter.forwardBackward.cpuMedianMs : null,
        weightMemoryRatioAtDensity025: quarter.denseWeightBytes / quarter.weightBytes,
        met: quarter.speedupVsEngineDense!.forward >= 2 && quarter.denseWeightBytes / quarter.weightBytes >= 4,
      }
    : null,
};
await writeJson(outFile, result);

// the table, from the JSON
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const x2 = (v: number | null | undefined) => (v ? `${v.toFixed(2)}×` : '-');
const tableRows: string[][] = result.results.map((r) => [
  r.name, r.density.toFixed(3), r.forward.medianMs.toFixed(1), r.forwardGflops.toFixed(1),
  r.forwardBackward ? r.forwardBackward.medianMs.toFixed(1) : '-', mib(r.weightBytes),
  x2(r.speedupVsEngineDense!.forward), x2(r.speedupVsEngineDense!.forwardBackward),
  r.forward.cpuMedianMs.toFixed(1), r.forwardBackward ? r.forwardBackward.cpuMedianMs.toFixed(1) : '-',
  x2(base.forward.cpuMedianMs / r.forward.cpuMedianMs),
]);
const skipped: string[] = [];
for (const p of result.peers) {
  const name = `${p.name === 'ortweb-gemm' ? 'onnxruntime-web' : 'onnxruntime-node'} Gemm (dense, ${p.threads} thr)`;
  if (p.ok) {
    tableRows.push([name, '1.000', p.medianMs!.toFixed(1), (flops(1) / p.medianMs! / 1e6).toFixed(1), '-', mib(4 * inF * out), x2(p.speedupVsEngineDense), '-', '', '', '']);
  } else {
    skipped.push(`${name} skipped: ${p.note}`);
  }
}
console.log(`BlockSparseLinear: x [${rows}, ${inF}] → ${out}, block ${block}, ${result.environment.engine.backend} engine, ${result.environment.cpu}`);
console.log(textTable({
  headers: ['layer', 'density', 'fwd ms', 'fwd GF/s', 'fwd+bwd ms', 'weight', 'fwd ×dense', 'f+b ×dense', 'fwd cpu ms', 'f+b cpu ms', 'cpu ×dense'],
  align: ['l', ...new Array<'r'>(10).fill('r')],
  rows: tableRows,
}));
for (const line of skipped) console.log(line);
if (result.goal) {
  const g = result.goal;
  console.log(`density 0.25: forward ${g.forwardSpeedupAtDensity025.toFixed(2)}× and forward+backward ${g.forwardBackwardSpeedupAtDensity025?.toFixed(2)}× the dense layer's speed, ` +
    `${g.weightMemoryRatioAtDensity025.toFixed(1)}× less weight memory (goal ≥2× and 4×: ${g.met ? 'met' : 'not met'}); ` +
    `CPU time ${g.forwardCpuTimeRatioAtDensity025.toFixed(2)}× / ${g.forwardBackwardCpuTimeRatioAtDensity025?.toFixed(2)}× less`);
}
if (check) console.log(`engine dense vs TypeScript dense forward: max |diff| ${check.maxAbsDiff.toExponential(2)} (max |y| ${check.maxAbsRef.toFixed(2)})`);
console.log(`wrote ${outFile}`);
