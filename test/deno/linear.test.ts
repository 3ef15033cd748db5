// BlockSparseLinear on the WebGPU engine (lavapipe in CI): forward and backward against the float64
// dense linear with the pruned blocks zeroed, as test/linear.test.ts does on the CPU. Skipped, with
// the reason printed, where Deno finds no adapter. Under Node (uvu) this file registers nothing.
import { createEngine } from '../../src/engine.ts';
import { BlockSparseLinear } from '../../src/linear/index.ts';
import { denseLinear64, denseLinearBackward64 } from '../helpers/linear.ts';
import { assertClose, GPU_TOL, mulberry32, randomTensor } from '../reference/index.ts';

const inDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

if (inDeno) {
  Deno.test('BlockSparseLinear on WebGPU matches a float64 dense linear', async (t) => {
    let engine;
    try {
      engine = await createEngine({ backend: 'webgpu' });
    } catch (e) {
      console.log(`skipped: ${(e as Error).message}`);
      return;
    }
    try {
      const rng = mulberry32(5);
      for (const [inF, outF, block, rows, density, bias] of [
        [64, 96, 16, 37, 0.4, true],
        [128, 64, 32, 20, 0.25, false],
        [32, 32, 8, 16, 1, true],
        [40, 24, 8, 9, 0.5, true],
        [32, 48, 16, 9, 1, true],
      ] as const) {
        await t.step(`in ${inF} out ${outF} block ${block} rows ${rows} density ${density}`, async () => {
          const layer = new BlockSparseLinear({ inFeatures: inF, outFeatures: outF, density, block, bias, seed: 3, engine });
          const x = randomTensor([rows, inF], rng);
          const dy = randomTensor([rows, outF], rng);
          const w = layer.toDense().data;
          const b = bias ? layer.bias!.data : null;
          const y = await layer.forward(x);
          const timings = engine.lastTimings!;
          if (timings.op !== 'matmul dds' || !(timings.wallMs > 0)) throw new Error(`lastTimings: ${JSON.stringify(timings)}`);
          if (engine.info.timestampQuery && !(typeof timings.kernelMs === 'number' && timings.kernels!.length > 0)) {
            throw new Error(`timestamp-query is on but no kernel time came back: ${JSON.stringify(timings)}`);
          }
          assertClose(y.data, denseLinear64(x.data, w, b, rows, inF, outF), { ...GPU_TOL, label: 'y' });
          const g = await layer.backward(x, dy);
          const ref = denseLinearBackward64(x.data, w, dy.data, rows, inF, outF);
          assertClose(g.dx.data, ref.dx, { ...GPU_TOL, label: 'dx' });
          const dW = new BlockSparseLinear({ inFeatures: inF, outFeatures: outF, layout: layer.layout, block, bias: false, engine });
          dW.weight.data.set(g.dWeight.data);
          assertClose(dW.toDense().data, maskLike(ref.dW, layer), { ...GPU_TOL, label: 'dWeight' });
          if (b) assertClose(g.dBias!.data, ref.db, { ...GPU_TOL, label: 'dBias' });
        });
      }
    } finally {
      await engine.close();
    }
  });
}

/** The dense dW with the pruned blocks zeroed: kept blocks are where the layer's layout keeps them. */
function maskLike(dw: ArrayLike<number>, layer: BlockSparseLinear): Float64Array {
  const { block, shape, data } = layer.layout;
  const [, R, C] = shape;
  const inF = C * block;
  const out = new Float64Array(dw.length);
  for (let i = 0; i < R * block; i++) {
    for (let j = 0; j < inF; j++) {
      if (data[Math.floor(i / block) * C + Math.floor(j / block)]) out[i * inF + j] = dw[i * inF + j];
    }
  }
  return out;
}
