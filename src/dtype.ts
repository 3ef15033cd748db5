// A tensor's dtype at the host edge (API.md "Float16 storage"): how its values are stored, the one
// conversion of float16 host data into float32 and the one conversion of results back, for a
// backend that computes in float32; a backend that stores float16 (Backend.storesFloat16) gets and
// gives the half-float bits as they are.
import type { Float16Op, HostData } from './backend.js';
import { errors, internal } from './errors.js';
import { fromFloat16, toFloat16 } from './float16.js';
import type { Dtype, Float16ArrayLike, Float16Tensor, Tensor } from './types.js';

/** How a tensor's values are held on the host: float32, or half floats as bits (Uint16Array) or as the runtime's Float16Array. */
export type Storage = 'float32' | 'float16-bits' | 'float16-array';

/** What engine.info.float16 says for a backend that does not store float16. */
export const FLOAT16_CONVERTED = 'converted to float32 at the copies in and out; f32 kernels';

/** The ops engine.info.float16Ops names (backend.ts Float16Op). */
export const FLOAT16_OPS: readonly Float16Op[] = ['attention', 'attentionBackward', 'decode', 'kvCache'];

export const dtypeOf = (s: Storage): Dtype => (s === 'float32' ? 'float32' : 'float16');

/** The runtime's Float16Array (ES2025), where it has one. */
export function isFloat16Array(x: unknown): x is Float16ArrayLike {
  return ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Float16Array]';
}

/**
 * The storage of a tensor `{ data, shape, dtype? }` named `name`, its data's type checked against
 * its dtype (the shape and length are validate.ts's).
 */
export function storageOf(name: string, data: unknown, dtype: unknown): Storage {
  if (dtype === undefined || dtype === 'float32') {
    if (data instanceof Float32Array) return 'float32';
    if (data instanceof Uint16Array || isFloat16Array(data)) throw errors.halfWithoutDtype(name, data);
    throw errors.notFloat32(name, data);
  }
  if (dtype !== 'float16') throw errors.badChoice(`${name}.dtype`, ['float32', 'float16'], dtype);
  if (data instanceof Uint16Array) return 'float16-bits';
  if (isFloat16Array(data)) return 'float16-array';
  throw errors.notFloat16(name, data);
}

/** The half-float bits of Float16Array data, without a copy. */
const bitsOf = (data: Float16ArrayLike): Uint16Array => new Uint16Array(data.buffer, data.byteOffset, data.length);

/** The copy in: `data` (of `storage`) as float32; float32 data is passed through as it is. */
export function toFloat32(data: Float32Array | Uint16Array | Float16ArrayLike, storage: Storage): Float32Array {
  if (storage === 'float32') return data as Float32Array;
  return fromFloat16(storage === 'float16-bits' ? (data as Uint16Array) : bitsOf(data as Float16ArrayLike));
}

/** What a backend receives: float16 data as its bits where `half` (the backend stores float16), else as float32. */
export function toBackend(data: Float32Array | Uint16Array | Float16ArrayLike, storage: Storage, half: boolean): HostData {
  if (!half || storage === 'float32') return toFloat32(data, storage);
  return storage === 'float16-bits' ? (data as Uint16Array) : bitsOf(data as Float16ArrayLike);
}

/**
 * The copy out: results as half floats of `storage` (a Float16Array only where the runtime has
 * one): float32 results converted, half-float bits (from a backend that stores float16) as they are.
 */
function toHalf(data: HostData, storage: 'float16-bits' | 'float16-array'): Uint16Array | Float16ArrayLike {
  const bits = data instanceof Uint16Array ? data : toFloat16(data);
  if (storage === 'float16-bits') return bits;
  const F16 = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => Float16ArrayLike }).Float16Array;
  // float16-array storage came from a Float16Array, so the runtime has the class
  if (F16 === undefined) throw internal('float16-array storage without a Float16Array');
  return new F16(bits.buffer, bits.byteOffset, bits.length);
}

/** A host result of `storage`, from what a backend computed (a float32 Tensor keeps today's shape: no dtype field). */
export function hostTensor(data: HostData, shape: number[], storage: Storage): Tensor | Float16Tensor {
  if (storage !== 'float32') return { data: toHalf(data, storage), shape, dtype: 'float16' };
  if (!(data instanceof Float32Array)) throw internal('half-float bits for a float32 result');
  return { data, shape };
}
