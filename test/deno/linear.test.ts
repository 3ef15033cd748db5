// BlockSparseLinear on the WebGPU engine (lavapipe in CI): what the engine reports about a layer's
// calls (lastTimings). Its forward and backward against float64 are in the op suite
// (test/deno/ops.test.ts, the 'linear' cases of test/ops/cases.ts). Ignored, with the reason in its
// name, where Deno finds no adapter. Under Node (uvu) this file registers nothing.
import { createEngine, type Engine } from '../../src/engine.ts';
import { BlockSparseLinear } from '../../src/linear/index.ts';
import { mulberry32, randomTensor } from '../reference/index.ts';

const inDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

if (inDeno) {
  let engine: Engine | null = null;
  let noAdapter = '';
  try {
    engine = await createEngine({ backend: 'webgpu' });
  } catch (e) {
    noAdapter = (e as Error).message;
  }
  const name = 'BlockSparseLinear on WebGPU: lastTimings names the dds matmul, with kernel times where timestamps are on';
  Deno.test({
    name: engine ? name : `${name} (ignored: ${noAdapter})`,
    ignore: engine === null,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const e = engine!;
      try {
        const layer = new BlockSparseLinear({ inFeatures: 64, outFeatures: 96, density: 0.4, block: 16, seed: 3, engine: e });
        await layer.forward(randomTensor([37, 64], mulberry32(5)));
        const timings = e.lastTimings!;
        if (timings.op !== 'matmul dds' || !(timings.wallMs > 0)) throw new Error(`lastTimings: ${JSON.stringify(timings)}`);
        if (e.info.timestampQuery && !(typeof timings.kernelMs === 'number' && timings.kernels!.length > 0)) {
          throw new Error(`timestamp-query is on but no kernel time came back: ${JSON.stringify(timings)}`);
        }
      } finally {
        await e.close();
      }
    },
  });
}
