// A tensor's dtype at the host edge (API.md "Float16 storage"): how its values are stored, the one
// conversion of float16 host data into the float32 every backend computes in, and the one
// conversion of results back. The backends only ever see float32.
import { errors, internal } from './errors.js';
import { fromFloat16, toFloat16 } from './float16.js';
import type { Dtype, Float16ArrayLike, Float16Tensor, Tensor } from './types.js';

/** How a tensor's values are held on the host: float32, or half floats as bits (Uint16Array) or as the runtime's Float16Array. */
export type Storage = 'float32' | 'float16-bits' | 'float16-array';

/** What engine.info.float16 says while no backend computes in half floats. */
export const FLOAT16_CONVERTED = 'converted to float32 at the copies in and out; f32 kernels';

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

/** The copy out: float32 results as half floats of `storage` (a Float16Array only where the runtime has one). */
function toHalf(data: Float32Array, storage: 'float16-bits' | 'float16-array'): Uint16Array | Float16ArrayLike {
  const bits = toFloat16(data);
  if (storage === 'float16-bits') return bits;
  const F16 = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike) => Float16ArrayLike }).Float16Array;
  // float16-array storage came from a Float16Array, so the runtime has the class
  if (F16 === undefined) throw internal('float16-array storage without a Float16Array');
  return new F16(bits.buffer);
}

/** A host result of `storage`, from the float32 a backend computed (a float32 Tensor keeps today's shape: no dtype field). */
export function hostTensor(data: Float32Array, shape: number[], storage: Storage): Tensor | Float16Tensor {
  return storage === 'float32' ? { data, shape } : { data: toHalf(data, storage), shape, dtype: 'float16' };
}
