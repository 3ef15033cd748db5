// DeviceTensors on the WebGPU engine (lavapipe in CI): the cases of test/helpers/device-tensors.ts,
// with GPU buffers kept between calls. Skipped, with the reason printed, where no adapter is found.
import { createEngine, type Engine } from '../../src/engine.ts';
import { closedEngineCase, deviceTensorCases } from '../helpers/device-tensors.ts';

let gpu: Engine | null = null;
let skipReason = '';
try {
  gpu = await createEngine({ backend: 'webgpu' });
} catch (e) {
  skipReason = (e as Error).message;
  console.warn(`device-tensor tests skipped: ${skipReason}`);
}
const other = await createEngine({ backend: 'cpu', threads: 1 });
const opts = { ignore: gpu === null, sanitizeOps: false, sanitizeResources: false };

for (const c of deviceTensorCases) {
  Deno.test({ name: `webgpu: ${c.name}`, ...opts, fn: () => c.run(gpu!, other) });
}

Deno.test({
  name: 'webgpu: closing the engine destroys its DeviceTensors',
  ...opts,
  fn: async () => closedEngineCase(await createEngine({ backend: 'webgpu' })),
});

Deno.test({ name: 'teardown', ...opts, ignore: false, fn: async () => { await gpu?.close(); await other.close(); } });
