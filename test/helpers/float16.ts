// Float16 attention cases (API.md "Float16 storage"), for the CPU suite (test/float16.test.ts) and
// the WebGPU one (test/deno/float16.test.ts): host attention inputs with q, k, v and dout rounded to
// half floats, the float64 reference's inputs (the half values, widened), and the float16 tolerances.
import { fromFloat16, toFloat16 } from '../../src/float16.js';
import type { Float16ArrayLike, Float16Tensor, Tensor } from '../../src/types.js';
import { assertClose, type Tolerance } from './assert-close.js';
import type { HostAttentionBackwardArgs } from './random.js';

/** How the half floats are handed over: bits in a Uint16Array, or the runtime's Float16Array. */
export type HalfArray = 'bits' | 'Float16Array';

/** The runtime's Float16Array class, or null where it has none (Node before 24). */
export const Float16ArrayClass = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike) => Float16ArrayLike }).Float16Array ?? null;

/** A float16 tensor of the half floats nearest to `t`'s values. */
export function halfTensor(t: Tensor, array: HalfArray = 'bits'): Float16Tensor {
  const bits = toFloat16(t.data);
  if (array === 'bits') return { data: bits, shape: [...t.shape], dtype: 'float16' };
  if (!Float16ArrayClass) throw new Error('this runtime has no Float16Array');
  return { data: new Float16ArrayClass(bits.buffer), shape: [...t.shape], dtype: 'float16' };
}

/** The bits of a float16 tensor's data, whichever array holds them. */
export function bitsOf(t: Float16Tensor): Uint16Array {
  return t.data instanceof Uint16Array ? t.data : new Uint16Array(t.data.buffer, t.data.byteOffset, t.data.length);
}

/** The values of a float16 tensor, as float32 (exact). */
export const valuesOf = (t: Float16Tensor): Float32Array => fromFloat16(bitsOf(t));

export interface HalfCase {
  /** The call's arguments, q, k, v and dout float16 (masks and rpe stay float32). */
  half: Omit<HostAttentionBackwardArgs, 'q' | 'k' | 'v' | 'dout'> & { q: Float16Tensor; k: Float16Tensor; v: Float16Tensor; dout: Float16Tensor };
  /** The same call in float32, over the half values: the float64 reference's inputs, and the f32 path's. */
  widened: HostAttentionBackwardArgs;
}

export function halfCase(a: HostAttentionBackwardArgs, array: HalfArray = 'bits'): HalfCase {
  const half = { ...a, q: halfTensor(a.q, array), k: halfTensor(a.k, array), v: halfTensor(a.v, array), dout: halfTensor(a.dout, array) };
  const widen = (t: Float16Tensor): Tensor => ({ data: valuesOf(t), shape: [...t.shape] });
  return { half, widened: { ...a, q: widen(half.q), k: widen(half.k), v: widen(half.v), dout: widen(half.dout) } };
}

/** API.md's float16 tolerance factors: out and lse, and the gradients. */
export const F16_FORWARD = { scale: 2e-3, rtol: 5e-3 };
export const F16_BACKWARD = { scale: 1e-2, rtol: 1e-2 };

/**
 * Every value within scale·max|ref| + rtol·|ref| of the reference (max over the finite values of
 * the tensor), plus `floor` absolute where given (a tensor that is zero in exact arithmetic).
 */
export function assertF16Close(actual: ArrayLike<number>, ref: ArrayLike<number>, tol: F16Tolerance, label: string): void {
  assertClose(actual, ref, { ...f16Tolerance(ref, tol), label });
}

export interface F16Tolerance {
  scale: number;
  rtol: number;
  floor?: number;
}

/** The atol and rtol of assertF16Close for `ref` (for compareClose, which reports rather than throws). */
export function f16Tolerance(ref: ArrayLike<number>, tol: F16Tolerance): Tolerance {
  let max = 0;
  for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i])) max = Math.max(max, Math.abs(ref[i]));
  return { atol: tol.scale * max + (tol.floor ?? 0), rtol: tol.rtol };
}
