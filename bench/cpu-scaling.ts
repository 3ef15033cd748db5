// Is thread scaling ours or the machine's? The matmul ceiling kernel (pure register-tiled FMA work,
// no memory traffic beyond L1, no host copies) run on 1, 2, 4, … workers at once, each on its own
// buffers: the speedup it reaches is the most any SIMD-bound kernel can get on this machine.
//   node --import tsx bench/cpu-scaling.ts [--threads 1,2,4,8,16]
import os from 'node:os';
import { createCpuBackend } from '../src/cpu/backend.js';

const arg = process.argv.indexOf('--threads');
const cores = os.availableParallelism?.() ?? os.cpus().length;
const counts = arg > 0 ? process.argv[arg + 1].split(',').map(Number) : [1, 2, 4, 8, 16].filter((t) => t <= cores);
const [M, N, K, reps] = [128, 128, 64, 200];
const flopsPerTask = 2 * M * N * K * reps;
const rows: Record<string, number>[] = [];
for (const threads of counts) {
  const backend = (await createCpuBackend({ threads })) as unknown as {
    arena: { alloc(bytes: number): number; f32(ptr: number, n: number): Float32Array };
    runner: { run(kernel: string, tasks: number[][]): Promise<void> };
    close(): Promise<void>;
  };
  const tasks = Array.from({ length: threads }, () => {
    const a = backend.arena.alloc(M * K * 4), b = backend.arena.alloc(K * N * 4), c = backend.arena.alloc(M * N * 4);
    backend.arena.f32(a, M * K).fill(0.5);
    backend.arena.f32(b, K * N).fill(0.25);
    return [a, b, c, M, N, K, reps];
  });
  for (let i = 0; i < 5; i++) await backend.runner.run('matmulCeiling', tasks);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await backend.runner.run('matmulCeiling', tasks);
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const ms = times[3];
  rows.push({ threads, ms, gflops: (threads * flopsPerTask) / ms / 1e6 });
  await backend.close();
}
const base = rows[0].gflops;
for (const r of rows) console.log(`threads ${String(r.threads).padStart(2)}: ${r.gflops.toFixed(1)} GFLOP/s in all, ${(r.gflops / base).toFixed(2)}x one thread`);
console.log(JSON.stringify({ cpu: os.cpus()[0]?.model, cores, rows }));
