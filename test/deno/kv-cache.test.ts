// KV caches on the WebGPU engine (lavapipe in CI): the property and cases of test/helpers/kv-cache.ts,
// the tokens in GPU buffers. The property keeps to block 16 (the smallest attention tile) and one
// head dimension, since lavapipe compiles every new program variant afresh; the cases' D = 6 covers
// rows padded to vec4. Skipped, with the reason printed, where no adapter is found.
import { createEngine, type Engine } from '../../src/engine.ts';
import { closedEngineKvCase, kvCacheCases, kvCacheProperty } from '../helpers/kv-cache.ts';

let gpu: Engine | null = null;
try {
  gpu = await createEngine({ backend: 'webgpu' });
} catch (e) {
  console.warn(`kv-cache tests skipped: ${(e as Error).message}`);
}
const other = await createEngine({ backend: 'cpu', threads: 1 });
const opts = { ignore: gpu === null, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: 'webgpu: property: attention over a cache equals k, v tensors of its tokens, bit for bit, and float64',
  ...opts,
  fn: () => kvCacheProperty([gpu!], { numRuns: 6, seed: 15017, blocks: [16], dims: [16] }),
});

for (const c of kvCacheCases) {
  Deno.test({ name: `webgpu: ${c.name}`, ...opts, fn: () => c.run(gpu!, other) });
}

Deno.test({
  name: 'webgpu: engine.close() destroys its caches',
  ...opts,
  fn: async () => closedEngineKvCase(await createEngine({ backend: 'webgpu' })),
});

Deno.test({ name: 'teardown', ...opts, ignore: false, fn: async () => { await gpu?.close(); await other.close(); } });
