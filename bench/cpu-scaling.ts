// Is thread scaling ours or the machine's? The matmul ceiling kernel (pure register-tiled FMA work,
// no memory traffic beyond L1, no host copies) run on 1, 2, 4, … workers at once, each on its own
// buffers: the speedup it reaches is the most any SIMD-bound kernel can get on this machine.
// With --attention, each round also times the fused attention forward on an engine of each thread
// count (issue 14's shape: Hq 32, Hkv 8, D 128, block 64, Phi-3-small's pattern, causal; operands
// uploaded once, output kept on the backend), so that both speedups come from the same minutes; the
// figure is the median over rounds of (attention's speedup / the ceiling's), issue 14's goal ≥ 90%.
//   node --import tsx bench/cpu-scaling.ts [--threads 1,2,4,8,16] [--attention [--N 4096] [--Hq 32]] [--rounds 15] [--ceiling-reps 200] [--out F]
import os from 'node:os';
import { parseFlags } from '../cli/flags.js';
import { mulberry32, uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { createCpuBackend, type KernelRunner } from '../src/cpu/backend.js';
import { Phi3SmallSparsityConfig, createEngine, describeLayout, type DeviceTensor, type Engine } from '../src/index.js';

const cores = os.availableParallelism?.() ?? os.cpus().length;
const flags = parseFlags({ threads: 'list', attention: 'bool', N: 'int', Hq: 'int', rounds: 'int', 'ceiling-reps': 'int', out: 'string' });
const counts = flags.ints('threads', [1, 2, 4, 8, 16].filter((t) => t <= cores));
if (counts[0] !== 1) throw new RangeError('--threads must start at 1 (speedups are against one thread)');
// a ceiling run as long as a tenth of an attention call: short runs read this VM's scheduling noise
const [M, N, K, reps] = [128, 128, 64, flags.int('ceiling-reps', flags.bool('attention') ? 2000 : 200)];
const flopsPerTask = 2 * M * N * K * reps;
type Backend = {
  arena: { alloc(bytes: number): number; f32(ptr: number, n: number): Float32Array };
  runner: KernelRunner;
  close(): Promise<void>;
};
// Every thread count's pool stays open and each round times one run on each, so that all counts see
// the same machine: this VM's per-core speed drifts over minutes. Figures: medians over rounds.
const ROUNDS = flags.int('rounds', 15);
const backends = await Promise.all(counts.map(async (threads) => {
  const backend = (await createCpuBackend({ threads })) as unknown as Backend;
  const tasks = Array.from({ length: threads }, () => {
    const a = backend.arena.alloc(M * K * 4), b = backend.arena.alloc(K * N * 4), c = backend.arena.alloc(M * N * 4);
    backend.arena.f32(a, M * K).fill(0.5);
    backend.arena.f32(b, K * N).fill(0.25);
    return { a, b, c, M, N, K, reps };
  });
  return { threads, backend, tasks };
}));
const timeOne = async ({ backend, tasks }: (typeof backends)[number]) => {
  const t0 = performance.now();
  await backend.runner.run('matmulCeiling', tasks);
  return performance.now() - t0;
};

// the attention forward on one engine per thread count, the same operands uploaded to each
const attention = flags.bool('attention');
const [Hq, Hkv, D, block, seqN] = [flags.int('Hq', 32), flags.int('Hq', 32) / 4, 128, 64, flags.int('N', 4096)];
const layout = new Phi3SmallSparsityConfig({ numHeads: Hq, block }).makeLayout(seqN);
const engines = attention
  ? await Promise.all(counts.map(async (threads) => {
    const engine = await createEngine({ backend: 'cpu', threads });
    const rng = mulberry32(14);
    const up = (H: number): Promise<DeviceTensor> => engine.upload({ data: uniformFloats(H * seqN * D, rng), shape: [1, H, seqN, D] });
    return { threads, engine, q: await up(Hq), k: await up(Hkv), v: await up(Hkv) };
  }))
  : [];
const timeAttention = async ({ engine, q, k, v }: { engine: Engine; q: DeviceTensor; k: DeviceTensor; v: DeviceTensor }) => {
  const t0 = performance.now();
  const out = await engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true });
  const ms = performance.now() - t0;
  out.destroy();
  return ms;
};

for (let i = 0; i < 5; i++) for (const b of backends) await timeOne(b);
for (let i = 0; i < 3; i++) for (const e of engines) await timeAttention(e); // V8 tiers each worker's instance up
const gflops = backends.map(() => [] as number[]);
const ratios = backends.map(() => [] as number[]);
const attnMs = engines.map(() => [] as number[]);
const attnRatios = engines.map(() => [] as number[]);
/** Per round: attention's speedup over the ceiling's at the same thread count. */
const ofCeiling = engines.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  const ms: number[] = [];
  for (const b of backends) ms.push(await timeOne(b));
  const ams: number[] = [];
  for (const e of engines) ams.push(await timeAttention(e));
  backends.forEach((b, i) => {
    gflops[i].push((b.threads * flopsPerTask) / ms[i] / 1e6);
    ratios[i].push(((b.threads * flopsPerTask) / ms[i]) / (flopsPerTask / ms[0]));
  });
  engines.forEach((_, i) => {
    attnMs[i].push(ams[i]);
    attnRatios[i].push(ams[0] / ams[i]);
    ofCeiling[i].push(ams[0] / ams[i] / ratios[i][r]);
  });
}
await Promise.all(backends.map((b) => b.backend.close()));
await Promise.all(engines.map((e) => e.engine.close()));
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const rows = backends.map((b, i) => ({
  threads: b.threads, gflops: median(gflops[i]), speedup: median(ratios[i]), speedupMin: Math.min(...ratios[i]), speedupMax: Math.max(...ratios[i]),
  ...(attention ? { attentionMs: median(attnMs[i]), attentionSpeedup: median(attnRatios[i]), attentionOfCeiling: median(ofCeiling[i]), attentionOfCeilingSamples: ofCeiling[i] } : {}),
}));
for (const r of rows) {
  console.log(`threads ${String(r.threads).padStart(2)}: ceiling ${r.gflops.toFixed(1)} GFLOP/s in all, ${r.speedup.toFixed(2)}x one thread (median of ${ROUNDS} rounds; ${r.speedupMin.toFixed(2)}–${r.speedupMax.toFixed(2)})`);
  if (r.attentionMs !== undefined) {
    console.log(`            attention ${r.attentionMs.toFixed(1)} ms, ${r.attentionSpeedup!.toFixed(2)}x one thread; of the ceiling's speedup ${(100 * r.attentionOfCeiling!).toFixed(1)}% (rounds ${spread(r.attentionOfCeilingSamples!)})`);
  }
}
const doc = {
  bench: 'cpu-scaling', cpu: os.cpus()[0]?.model, cores, rounds: ROUNDS,
  ...(attention ? { attention: { B: 1, Hq, Hkv, D, block, N: seqN, causal: true, layout: 'Phi3SmallSparsityConfig (defaults)', density: describeLayout(layout).density, how: 'DeviceTensors in, output kept on the backend; wall time of each call' } } : {}),
  rows,
};
const out = flags.string('out');
if (out) await writeJson(out, doc);
console.log(JSON.stringify({ cpu: doc.cpu, cores, rounds: ROUNDS, rows: rows.map(({ attentionOfCeilingSamples: _, ...r }) => r) }));
