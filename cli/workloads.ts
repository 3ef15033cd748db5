// What gets timed: one closure per (implementation, direction) over fixed inputs. The fused path
// is engine.attention(Backward); the unfused path is DeepSpeed's three ops, sdd → softmax → dsd,
// and their backward (sdd, dsd with transA, softmaxBackward, dsd, dsd with transA).
import type { Engine } from '../src/engine.js';
import { mulberry32, uniformFloats } from './random.js';
import type { BlockSparseTensor, Layout, Tensor } from '../src/types.js';
import type { Impl, Op } from './results.js';

export type BenchEngine = Pick<Engine, 'backend' | 'info' | 'attention' | 'attentionBackward' | 'matmul' | 'softmax' | 'softmaxBackward' | 'close'>;

export interface Inputs {
  B: number;
  H: number;
  N: number;
  D: number;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
}

/** Uniform values in [-1, 1) from one seeded generator: the same inputs on every run and backend. */
export function makeInputs(B: number, H: number, N: number, D: number): Inputs {
  const shape = [B, H, N, D];
  const size = B * H * N * D;
  const rng = mulberry32(0x9e3779b9 ^ N);
  const tensor = (): Tensor => ({ data: uniformFloats(size, rng), shape: [...shape] });
  return { B, H, N, D, q: tensor(), k: tensor(), v: tensor(), dout: tensor() };
}

/** A timed call; returns the outputs (to compare implementations), not timed themselves. */
export type Call = () => Promise<Float32Array[]>;

export function fusedCall(engine: BenchEngine, x: Inputs, layout: Layout, op: Op): Call {
  const scale = 1 / Math.sqrt(x.D);
  if (op === 'forward') {
    return async () => [(await engine.attention({ q: x.q, k: x.k, v: x.v, layout, scale })).data];
  }
  return async () => {
    const g = await engine.attentionBackward({ q: x.q, k: x.k, v: x.v, layout, scale, dout: x.dout });
    return [g.dq.data, g.dk.data, g.dv.data];
  };
}

/**
 * The unfused pipeline. Backward starts from the saved softmax output p, as an autograd graph
 * would (computed once here, untimed), so it times only the backward ops.
 */
export async function unfusedCall(engine: BenchEngine, x: Inputs, layout: Layout, op: Op): Promise<Call> {
  const scale = 1 / Math.sqrt(x.D);
  const probabilities = async (): Promise<BlockSparseTensor> => {
    const s = await engine.matmul({ mode: 'sdd', a: x.q, b: x.k, layout, transB: true });
    return engine.softmax({ x: s, scale });
  };
  if (op === 'forward') {
    return async () => {
      const p = await probabilities();
      return [(await engine.matmul({ mode: 'dsd', a: p, b: x.v })).data];
    };
  }
  const p = await probabilities();
  return async () => {
    const dp = await engine.matmul({ mode: 'sdd', a: x.dout, b: x.v, layout, transB: true });
    const dv = await engine.matmul({ mode: 'dsd', a: p, b: x.dout, transA: true });
    const ds = await engine.softmaxBackward({ y: p, dy: dp, scale });
    const dq = await engine.matmul({ mode: 'dsd', a: ds, b: x.k });
    const dk = await engine.matmul({ mode: 'dsd', a: ds, b: x.q, transA: true });
    return [dq.data, dk.data, dv.data];
  };
}

/**
 * Bytes of block-sparse intermediates a call materialises: the fused kernels none; the unfused
 * forward the scores and the probabilities, its backward dp and ds beside the saved p.
 */
export function intermediateBytes(impl: Impl, op: Op, B: number, nnz: number, block: number): number {
  if (impl !== 'unfused') return 0;
  return (op === 'forward' ? 2 : 3) * B * nnz * block * block * 4;
}

/** max |a − b| over matching outputs; NaN where shapes differ or a value is not finite. */
export function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) return NaN;
  let worst = 0;
  for (let t = 0; t < a.length; t++) {
    const x = a[t]!;
    const y = b[t]!;
    if (x.length !== y.length) return NaN;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      if (!(d <= worst)) {
        if (Number.isNaN(d)) return NaN;
        worst = d;
      }
    }
  }
  return worst;
}
