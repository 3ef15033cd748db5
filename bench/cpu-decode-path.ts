// A by-hand check of the CPU decode path (src/cpu/decode.ts) against the prefill kernel it replaces
// for a few query rows (not a test, not a results file): one query step over a KV cache, Hq 32,
// Hkv 8, D 128, block 64, a causal dense layout fitted to the cache, on 1 and 2 threads.
//   node --import tsx bench/cpu-decode-path.ts [--keys 32768] [--steps 9]
// Prints per configuration the median wall time of a step (host work included) and of its kernels.
import { parseFlags } from '../cli/flags.js';
import { median } from '../cli/stats.js';
import { createEngine } from '../src/engine.js';
import { decodeTuning } from '../src/cpu/decode.js';
import type { Layout } from '../src/types.js';

const flags = parseFlags({ keys: 'int', steps: 'int' });
const keys = flags.int('keys', 32768);
const steps = flags.int('steps', 9);
const B = 1, Hq = 32, Hkv = 8, D = 128, block = 64;
const capacity = keys + block;
const R = Math.ceil(capacity / block);
const layout: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R) };
for (let r = 0; r < R; r++) layout.data.fill(1, r * R, r * R + r + 1);

let seed = 1;
const random = (n: number): Float32Array => {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    x[i] = seed / 2 ** 32 - 0.5;
  }
  return x;
};
const kv = { k: { data: random(B * Hkv * keys * D), shape: [B, Hkv, keys, D] }, v: { data: random(B * Hkv * keys * D), shape: [B, Hkv, keys, D] } };
const q = { data: random(B * Hq * D), shape: [B, Hq, 1, D] };

for (const threads of [1, 2]) {
  const engine = await createEngine({ backend: 'cpu', threads, simd: 'simd' });
  const cache = await engine.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity });
  await cache.append(kv);
  for (const path of ['prefill kernel', 'decode path'] as const) {
    decodeTuning.maxRows = path === 'decode path' ? 16 : 0;
    const wall: number[] = [];
    const kernels: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const t0 = performance.now();
      await engine.attention({ q, kv: cache, layout, causal: true });
      if (s === 0) continue; // warm-up
      wall.push(performance.now() - t0);
      kernels.push(engine.lastTimings?.kernelMs ?? NaN);
    }
    console.log(`${threads} thread(s), ${path}: step ${median(wall).toFixed(2)} ms, kernels ${median(kernels).toFixed(2)} ms (${engine.lastTimings?.kernels?.map((k) => k.kernel).join(', ')})`);
  }
  decodeTuning.maxRows = 16;
  await engine.close();
}
