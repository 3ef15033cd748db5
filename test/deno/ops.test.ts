// The op suites on WebGPU under Deno (lavapipe in CI): every case of test/ops/cases.ts against the
// float64 reference, the backend called with the engine's problems (test/ops/run.ts) and
// BlockSparseLinear on a WebGPU engine. Excluded cases are ignored with their reason
// (test/ops/exclusions.ts); without an adapter every case is ignored, the reason in its name.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { CASES, OPS } from '../ops/cases.js';
import { exclusionOf } from '../ops/exclusions.js';
import { assertParts, backendTarget, runCase, toleranceOf, type OpTarget } from '../ops/run.js';

let backend: WebGPUBackend | null = null;
let engine: Engine | null = null;
let noAdapter = '';
try {
  backend = await createWebGPUBackend();
  engine = await createEngine({ backend: 'webgpu' });
} catch (e) {
  noAdapter = (e as Error).message;
  console.warn(`webgpu op suites ignored: ${noAdapter}`);
}
const target: OpTarget | null = backend && engine ? backendTarget(backend, engine) : null;
const opts = { sanitizeOps: false, sanitizeResources: false };

for (const op of OPS) {
  for (const c of CASES[op]) {
    const why = target ? exclusionOf('deno-webgpu', op, c) : noAdapter;
    const name = `${op}: ${c.name}`;
    if (why) {
      Deno.test({ name: `${name} (ignored: ${why})`, ignore: true, fn() {} });
      continue;
    }
    Deno.test({ name, ...opts, fn: async () => assertParts(await runCase(target!, op, c, 'deno-webgpu'), toleranceOf(target!, c), name) });
  }
}

Deno.test({
  name: 'teardown',
  ignore: target === null,
  ...opts,
  fn: async () => {
    await backend!.close();
    await engine!.close();
  },
});
