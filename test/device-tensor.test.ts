// DeviceTensors on the CPU engine (engine.upload, keepOnDevice), inline and on two workers; the
// same cases run on WebGPU in test/deno/device-tensor.test.ts.
import { test } from 'uvu';
import { createEngine, type Engine } from '../src/engine.js';
import { closedEngineCase, deviceTensorCases } from './helpers/device-tensors.js';

const engines: Engine[] = [];
test.after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function engine(threads: number): Promise<Engine> {
  const e = await createEngine({ backend: 'cpu', threads });
  engines.push(e);
  return e;
}

for (const threads of [1, 2]) {
  for (const c of deviceTensorCases) {
    test(`cpu, ${threads} thread${threads > 1 ? 's' : ''}: ${c.name}`, async () => {
      await c.run(await engine(threads), await engine(1));
    });
  }
}

test('cpu: closing the engine destroys its DeviceTensors', async () => {
  await closedEngineCase(await createEngine({ backend: 'cpu', threads: 1 }));
});

test.run();
