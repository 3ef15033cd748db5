// A CPU decode step two ways, alternating step by step in one process (B 1, H 8 = Hkv, D 64, block
// 64, a cache of N random tokens with key summaries, causal, keep first 1 and local 1):
//   two calls  engine.selectBlocks over the cache, then engine.attention over its layout;
//   held       selectBlocks with keepOnDevice, attention over the DeviceLayout (which makes the
//              selection in its own kernel call: src/cpu/held-selection.ts), then destroy();
// and dense attention over the whole cache every `dense-every` steps (its time, and a step that
// leaves the caches cold, as a model's other layers would). Medians of wall and kernel time per step.
//   node --import tsx bench/decode-held-step.ts [--threads 2] [--steps 300] [--n 131072] [--topk 16]
//     [--score mean|bound] [--dense-every 50] [--machine "label"] [--out bench/results/decode-held-step.json]
import { parseFlags } from '../cli/flags.js';
import { randomDecodeCache } from '../cli/random-cache.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { createEngine, type Layout } from '../src/index.js';
import { machineInfo } from './report/ort-tables.js';

const flags = parseFlags({ threads: 'int', steps: 'int', n: 'int', topk: 'int', score: 'string', 'dense-every': 'int', machine: 'string', out: 'string' });
const threads = flags.int('threads', 2);
const steps = flags.int('steps', 300);
const N = flags.int('n', 131072);
const topK = flags.int('topk', 16);
const score = flags.string('score', 'mean') as 'mean' | 'bound';
const denseEvery = flags.int('dense-every', 50);
const out = flags.string('out', 'bench/results/decode-held-step.json');
const [H, D, block, chunk] = [8, 64, 64, 8192];

const engine = await createEngine({ backend: 'cpu', threads });
const { kv, q } = await randomDecodeCache(engine, H, D, N, block, chunk);
const args = { q, kv, topK, score, causal: true, keep: { first: 1, local: 1 } };
const R = N / block;
const dense: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
const times = { two: [] as number[], twoKernels: [] as number[], held: [] as number[], heldKernels: [] as number[], dense: [] as number[] };
const kernelMs = () => engine.lastTimings?.kernelMs ?? NaN;
await engine.attention({ q, kv, layout: dense, causal: true }); // compiles the dense layout once
for (let i = 0; i < steps + 20; i++) {
  const t0 = performance.now();
  const layout = await engine.selectBlocks(args);
  const k0 = kernelMs();
  await engine.attention({ q, kv, layout, causal: true });
  const t1 = performance.now();
  const k1 = kernelMs();
  const held = await engine.selectBlocks({ ...args, keepOnDevice: true });
  await engine.attention({ q, kv, layout: held, causal: true });
  held.destroy();
  const t2 = performance.now();
  if (i >= 20) {
    times.two.push(t1 - t0);
    times.twoKernels.push(k0 + k1);
    times.held.push(t2 - t1);
    times.heldKernels.push(kernelMs());
  }
  if ((i + 1) % denseEvery === 0) {
    const t3 = performance.now();
    await engine.attention({ q, kv, layout: dense, causal: true });
    times.dense.push(performance.now() - t3);
  }
}
await engine.close();
const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<keyof typeof times, number>;
console.log(`threads ${threads}, N ${N}, topK ${topK}, ${score}: two calls ${m.two.toFixed(3)} ms (kernels ${m.twoKernels.toFixed(3)}), held ${m.held.toFixed(3)} ms (kernels ${m.heldKernels.toFixed(3)}); dense ${m.dense.toFixed(2)} ms: ${(m.dense / m.two).toFixed(1)}x and ${(m.dense / m.held).toFixed(1)}x`);
await writeJson(out, {
  bench: 'decode-held-step', threads, N, H, D, block, topK, score, steps, denseEvery, machine: machineInfo(flags.string('machine', ''), false),
  medians: m, speedup: { two: m.dense / m.two, held: m.dense / m.held }, heldOverTwo: m.held / m.two,
});
