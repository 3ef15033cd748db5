// The WebGPU selection's kernels alone (gpu/select-blocks.ts), per kernel, on random q and k held
// on the device: the whole resident selection (pooling, scores, SelectRows, the layout tables) for
// each rule, then pooling and scores alone (blockScores: a submission without the selection after
// them, to tell a kernel's own time from its place in the queue). Medians of --reps after
// 150 ms of the same call. B 1, H 8, D 64, block 64, causal (bench/select-blocks.ts's shape).
//   node select-kernels.mjs [--n 65536,131072] [--reps 7] [--pool-bytes B] [--staging-bytes B] [out.json]
// --pool-bytes and --staging-bytes cap the backend's buffer and staging pools (0: off), to tell
// whether what they hold changes the kernels' speed.
import { parseFlags } from '../../cli/flags.js';
import { median } from '../../cli/stats.js';
import { writeJson } from '../../cli/write-json.js';
import { bufferPoolTuning } from '../../gpu/buffer-pool.js';
import { createResidentBuffer } from '../../gpu/resident.js';
import { stagingPoolTuning } from '../../gpu/staging-pool.js';
import { blockScores, selectBlocksResident } from '../../gpu/select-blocks.js';
import type { SelectBlocksProblem } from '../../src/backend.js';
import { benchDevice } from './bench-device.js';
import { WARM_MS } from './kernel-timing.js';

const flags = parseFlags({ n: 'list', reps: 'int', 'pool-bytes': 'int', 'staging-bytes': 'int' });
if (flags.has('pool-bytes')) bufferPoolTuning.maxBytes = flags.int('pool-bytes', 0, 0);
if (flags.has('staging-bytes')) stagingPoolTuning.maxBytes = flags.int('staging-bytes', 0, 0);
const lengths = flags.ints('n', [65536, 131072]);
const reps = flags.int('reps', 7);
const outFile = flags.positionals[0];
const [H, D, block] = [8, 64, 64];
const { acq, ctx } = await benchDevice(false);

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    x[i] = s / 2 ** 32 - 0.5;
  }
  return x;
}

/** Per-kernel medians (ms) of `reps` calls after WARM_MS of unmeasured ones. */
async function kernels(call: () => Promise<unknown>): Promise<Record<string, number>> {
  for (const t0 = performance.now(); performance.now() - t0 < WARM_MS; ) await call();
  const seen = new Map<string, number[]>();
  for (let i = 0; i < reps; i++) {
    await call();
    const byName = new Map<string, number>();
    for (const k of ctx.lastTimings?.kernels ?? []) byName.set(k.kernel, (byName.get(k.kernel) ?? 0) + k.ms);
    byName.set('total', ctx.lastTimings?.totalMs ?? NaN);
    for (const [name, ms] of byName) seen.set(name, [...(seen.get(name) ?? []), ms]);
  }
  return Object.fromEntries([...seen].map(([name, ms]) => [name, median(ms)]));
}

const rows: Record<string, unknown>[] = [];
for (const N of lengths) {
  const C = N / block;
  const held = (seed: number) => ctx.persist(createResidentBuffer(acq.device, acq.limits, random(H * N * D, seed), D), H * N * D, D);
  const [q, k] = [held(1), held(2)];
  const base: SelectBlocksProblem = {
    q, k, kvStride: N, score: 'mean', B: 1, Hq: H, Hkv: H, Nq: N, Nk: N, D, block, R: C, C,
    qOffset: Int32Array.of(0), keyLengths: Int32Array.of(N), causal: true, scale: 1 / Math.sqrt(D),
    topK: 0, threshold: 0, keepDiagonal: true, keepFirst: 0, keepLocal: 0,
  };
  const settings: [string, Partial<SelectBlocksProblem>][] = [['topK 8', { topK: 8 }], ['topK 32', { topK: 32 }], ['τ 0.9', { threshold: 0.9 }]];
  for (const [setting, rule] of settings) {
    const p = { ...base, ...rule };
    const ms = await kernels(async () => (await selectBlocksResident(ctx, p, () => Promise.resolve(new ArrayBuffer(0)))).destroy());
    rows.push({ N, call: `resident selection, ${setting}`, ms });
    console.log(`N ${N} resident selection ${setting}: ${Object.entries(ms).map(([n, v]) => `${n} ${v.toFixed(3)}`).join(', ')}`);
  }
  const ms = await kernels(() => blockScores(ctx, { ...base, topK: 8 }));
  rows.push({ N, call: 'pooling and scores alone (blockScores)', ms });
  console.log(`N ${N} pooling and scores alone: ${Object.entries(ms).map(([n, v]) => `${n} ${v.toFixed(3)}`).join(', ')}`);
  q.destroy();
  k.destroy();
}
if (outFile) await writeJson(outFile, { bench: 'select-kernels', H, D, block, reps, poolBytes: bufferPoolTuning.maxBytes, stagingBytes: stagingPoolTuning.maxBytes, adapter: acq.adapterInfo, rows });
acq.release();
process.exit(0);
