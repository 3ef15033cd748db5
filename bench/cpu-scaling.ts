// Is thread scaling ours or the machine's? The matmul ceiling kernel (pure register-tiled FMA work,
// no memory traffic beyond L1, no host copies) run on 1, 2, 4, … workers at once, each on its own
// buffers: the speedup it reaches is the most any SIMD-bound kernel can get on this machine.
//   node --import tsx bench/cpu-scaling.ts [--threads 1,2,4,8,16]
import os from 'node:os';
import { parseFlags } from '../cli/flags.js';
import { median } from '../cli/stats.js';
import { createCpuBackend, type KernelRunner } from '../src/cpu/backend.js';

const cores = os.availableParallelism?.() ?? os.cpus().length;
const counts = parseFlags({ threads: 'list' }).ints('threads', [1, 2, 4, 8, 16].filter((t) => t <= cores));
const [M, N, K, reps] = [128, 128, 64, 200];
const flopsPerTask = 2 * M * N * K * reps;
type Backend = {
  arena: { alloc(bytes: number): number; f32(ptr: number, n: number): Float32Array };
  runner: KernelRunner;
  close(): Promise<void>;
};
// Every thread count's pool stays open and each round times one run on each, so that all counts see
// the same machine: this VM's per-core speed drifts over minutes. Figures: medians over rounds.
const ROUNDS = 15;
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
for (let i = 0; i < 5; i++) for (const b of backends) await timeOne(b);
const gflops = backends.map(() => [] as number[]);
const ratios = backends.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  const ms: number[] = [];
  for (const b of backends) ms.push(await timeOne(b));
  backends.forEach((b, i) => {
    gflops[i].push((b.threads * flopsPerTask) / ms[i] / 1e6);
    ratios[i].push(((b.threads * flopsPerTask) / ms[i]) / (flopsPerTask / ms[0]));
  });
}
await Promise.all(backends.map((b) => b.backend.close()));
const rows = backends.map((b, i) => ({ threads: b.threads, gflops: median(gflops[i]), speedup: median(ratios[i]), speedupMin: Math.min(...ratios[i]), speedupMax: Math.max(...ratios[i]) }));
for (const r of rows) console.log(`threads ${String(r.threads).padStart(2)}: ${r.gflops.toFixed(1)} GFLOP/s in all, ${r.speedup.toFixed(2)}x one thread (median of ${ROUNDS} rounds; ${r.speedupMin.toFixed(2)}–${r.speedupMax.toFixed(2)})`);
console.log(JSON.stringify({ cpu: os.cpus()[0]?.model, cores, rounds: ROUNDS, rows }));
