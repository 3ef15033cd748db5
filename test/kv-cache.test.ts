// KV caches on the CPU (test/helpers/kv-cache.ts): the property over random appends and attentions
// on plain SIMD with one thread and a pool of two (the same bits), and on relaxed SIMD; the
// lifecycle and every refusal on each engine.
import { suite } from 'uvu';
import { cpuEngines } from './helpers/cpu-engines.js';
import { closedEngineKvCase, kvCacheCases, kvCacheProperty } from './helpers/kv-cache.js';
import { createEngine } from '../src/engine.js';

const Kv = suite('kv cache (cpu)');
const E = cpuEngines(Kv);

Kv('property: attention over a cache equals k, v tensors of its tokens, bit for bit, and float64; 1 and 2 threads give the same bits', async () => {
  await kvCacheProperty([E.one, E.two], { numRuns: 40, seed: 15015, sameBits: true, blocks: [4, 8, 16], dims: [5, 8, 16] });
});

Kv('property on relaxed SIMD', async () => {
  await kvCacheProperty([E.relaxed], { numRuns: 20, seed: 15016, blocks: [4, 8, 16], dims: [5, 8, 16] });
});

for (const c of kvCacheCases) {
  Kv(c.name, async () => {
    for (const e of [E.one, E.relaxed, E.two]) await c.run(e, E.one === e ? E.two : E.one);
  });
}

Kv('engine.close() destroys its caches', async () => {
  await closedEngineKvCase(await createEngine({ backend: 'cpu', threads: 2 }));
});

Kv.run();
