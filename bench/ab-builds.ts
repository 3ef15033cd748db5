// Speed of two builds side by side in one process (before and after a refactor), alternating call by
// call so that both see the same machine state:
//   node --import tsx bench/ab-builds.ts OLD/dist/src/index.js NEW/dist/src/index.js [--threads 1,2] [--rounds 15] [--out ab.json]
// Workload: N=4096, H=8, D=64, block 64, causal, each block row keeps itself, the 3 blocks before it
// and column 0 (bench/threads.ts's layout); forward and backward. Reports per-call medians and the
// median of the per-round ratio new/old (1.00 = unchanged).
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type * as Lib from '../src/index.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const [oldEntry, newEntry] = argv;
if (!oldEntry || !newEntry || oldEntry.startsWith('--')) {
  console.error('usage: bench/ab-builds.ts OLD/dist/src/index.js NEW/dist/src/index.js [--threads 1,2] [--rounds 15] [--out f.json]');
  process.exit(2);
}
const threadCounts = flag('threads', '1,2').split(',').map(Number);
const rounds = Number(flag('rounds', '15'));
const [oldLib, newLib] = (await Promise.all([oldEntry, newEntry].map((e) => import(pathToFileURL(e).href)))) as (typeof Lib)[];

const [B, H, N, D, block] = [1, 8, 4096, 64, 64];
const fill = (n: number, seed: number): Float32Array => {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
};
const shape = [B, H, N, D];
const q = { data: fill(B * H * N * D, 1), shape };
const k = { data: fill(B * H * N * D, 2), shape };
const v = { data: fill(B * H * N * D, 3), shape };
const dout = { data: fill(B * H * N * D, 4), shape };
const layout = newLib.layoutFromMask(H, N / block, (_h, r, c) => c <= r && (r - c <= 3 || c === 0), block);

const middle = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const results: Record<string, unknown>[] = [];
for (const threads of threadCounts) {
  const engines = await Promise.all([oldLib, newLib].map((lib) => lib.createEngine({ backend: 'cpu', threads })));
  for (const op of ['attention', 'attentionBackward'] as const) {
    const call = (e: Lib.Engine): Promise<unknown> =>
      op === 'attention' ? e.attention({ q, k, v, layout, causal: true }) : e.attentionBackward({ q, k, v, layout, causal: true, dout });
    for (const e of engines) for (let i = 0; i < 3; i++) await call(e); // warm-up
    const ms: [number[], number[]] = [[], []];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      const t: number[] = [0, 0];
      for (const i of order) {
        const t0 = performance.now();
        await call(engines[i]);
        t[i] = performance.now() - t0;
        ms[i].push(t[i]);
      }
      ratios.push(t[1] / t[0]);
    }
    const row = { op, threads, oldMs: middle(ms[0]), newMs: middle(ms[1]), ratio: middle(ratios), rounds };
    results.push(row);
    console.log(`${op.padEnd(18)} ${threads}t  old ${row.oldMs.toFixed(1)} ms  new ${row.newMs.toFixed(1)} ms  new/old ${row.ratio.toFixed(3)}`);
  }
  await Promise.all(engines.map((e) => e.close()));
}
const out = flag('out', '');
if (out) writeFileSync(out, JSON.stringify({ oldEntry, newEntry, B, H, N, D, block, results }, null, 1));
process.exit(0);
