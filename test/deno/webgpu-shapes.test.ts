// WebGPU attention beyond self-attention (lavapipe in CI): the property of test/cpu-shapes.test.ts
// over the same drawn shapes (test/helpers/shape-cases.ts; blocks 16–128, as WebGPU's attention
// tiles take), forward, lse and backward against the float64 reference within the WebGPU
// tolerance. Fewer runs and tile shapes than on the CPU: lavapipe compiles and runs the shaders on
// the CPU. Ignored, with the
// reason, without an adapter.
import fc from 'fast-check';
import { createEngine, type Engine } from '../../src/engine.ts';
import { GPU_TOL, assertClose } from '../helpers/assert-close.ts';
import { caseOf, drawnShape } from '../helpers/shape-cases.ts';
import { attentionInputs } from '../ops/inputs.ts';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../reference/index.ts';

let engine: Engine | null = null;
let noAdapter = '';
try {
  engine = await createEngine({ backend: 'webgpu' });
} catch (e) {
  noAdapter = (e as Error).message;
  console.warn(`webgpu shape properties ignored: ${noAdapter}`);
}
const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: `property: forward, lse and backward beyond self-attention match the float64 reference${engine ? '' : ` (ignored: ${noAdapter})`}`,
  ignore: engine === null,
  ...opts,
  fn: async () => {
    const e = engine!;
    await fc.assert(
      fc.asyncProperty(drawnShape([16, 32], [5, 32]), async (d) => {
        const a = attentionInputs(caseOf(d));
        const label = JSON.stringify(d);
        const { out, lse } = await e.attention({ ...a, returnLse: true });
        assertClose(out.data, referenceAttention(a), { ...GPU_TOL, label: `${label} out` });
        assertClose(lse.data, referenceLse(a), { ...GPU_TOL, label: `${label} lse` });
        const g = await e.attentionBackward(a);
        const ref = referenceAttentionBackward(a);
        for (const name of ['dq', 'dk', 'dv'] as const) assertClose(g[name].data, ref[name], { ...GPU_TOL, label: `${label} ${name}` });
      }),
      { numRuns: 10, seed: 14115, endOnFailure: true },
    );
  },
});

Deno.test({ name: 'teardown', ignore: engine === null, ...opts, fn: async () => await engine!.close() });
