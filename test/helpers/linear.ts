// A float64 dense linear layer (forward and backward) to check BlockSparseLinear against (the op
// suites, test/ops/run.ts), and a stand-in Engine that records the matmuls a layer makes
// (test/linear.test.ts): its matmul is the float64 reference behind the engine's own validation.
import type { Engine } from '../../src/engine.js';
import { matmulProblem } from '../../src/problems.js';
import type { BlockSparseTensor, Layout, MatmulArgs, Tensor } from '../../src/types.js';
import { referenceMatmul } from '../reference/matmul.js';
import type { Numeric, RefMatmulArgs } from '../reference/types.js';

/** y = x·Wᵀ + b in float64 for x [rows, in], W [out, in] (dense, pruned blocks already zero). */
export function denseLinear64(x: Numeric, w: Numeric, b: Numeric | null, rows: number, inF: number, out: number): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

/** dx = dy·W [rows, in], dW = dyᵀ·x [out, in] (all of it), db = Σrows dy [out], in float64. */
export function denseLinearBackward64(x: Numeric, w: Numeric, dy: Numeric, rows: number, inF: number, out: number) {
  const dx = new Float64Array(rows * inF);
  const dW = new Float64Array(out * inF);
  const db = new Float64Array(out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      const g = dy[r * out + o];
      db[o] += g;
      for (let i = 0; i < inF; i++) {
        dx[r * inF + i] += g * w[o * inF + i];
        dW[o * inF + i] += g * x[r * inF + i];
      }
    }
  }
  return { dx, dW, db };
}

/**
 * An Engine with only `matmul`, for counting a layer's calls (never a stand-in for the CPU engine):
 * validated by matmulProblem as the real engine does, then computed by the float64 reference and
 * rounded to f32. `calls` records each call's mode and flags.
 */
export function referenceEngine(): Engine & { calls: { mode: string; transA: boolean; transB: boolean }[] } {
  const calls: { mode: string; transA: boolean; transB: boolean }[] = [];
  const unsupported = async () => {
    throw new Error('referenceEngine: only matmul');
  };
  const engine = {
    backend: 'cpu' as const,
    info: { backend: 'cpu' as const, fallbacks: ['test/helpers/linear.ts referenceEngine (float64 reference matmul)'] },
    calls,
    async matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor> {
      const { problem, outShape } = matmulProblem(args);
      calls.push({ mode: problem.mode, transA: problem.transA, transB: problem.transB });
      const data = Float32Array.from(referenceMatmul(args as RefMatmulArgs));
      if (problem.mode === 'sdd') {
        return { layout: problem.layout.layout as Layout, data, shape: outShape as [number, number, number, number] };
      }
      return { data, shape: outShape };
    },
    upload: unsupported,
    attention: unsupported,
    attentionBackward: unsupported,
    softmax: unsupported,
    softmaxBackward: unsupported,
    async close() {},
  };
  return engine as unknown as Engine & { calls: typeof calls };
}
