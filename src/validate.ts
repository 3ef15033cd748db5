// Checks of user input, before anything is dispatched: a bad call throws a TypeError or RangeError
// naming the argument and leaves the engine untouched. Messages live in errors.ts.
import type { HostData, OperandData } from './backend.js';
import { isDeviceTensor } from './device-tensor.js';
import { storageOf, toBackend, type Storage } from './dtype.js';
import { errors } from './errors.js';
import { blockSide, positiveInt } from './layouts/args.js';
import { compileLayout, type CompiledLayout } from './layouts/compile.js';
import { selectedRows } from './layouts/selected-layout.js';
import type { BatchedLayout, BlockSparseTensor, Float16ArrayLike, Layout, Tensor } from './types.js';

export const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/** A shape of positive integers of length `rank` ('any': any length ≥ 1). */
function checkShapeArray(name: string, shape: unknown, rank: number | 'any', expected: string): number[] {
  if (!Array.isArray(shape) || (rank === 'any' ? shape.length === 0 : shape.length !== rank) || !shape.every(isPositiveInt)) {
    throw errors.badShape(name, expected, shape);
  }
  return shape;
}

/**
 * A host tensor of either dtype: its shape, its data as the backend receives it (float16 data as
 * its bits for a backend that stores float16, else as float32: the copy in) and its storage.
 */
export interface HostOperand {
  shape: number[];
  data: HostData;
  storage: Storage;
}

/**
 * A host tensor; `dims` names the dimensions for messages (e.g. '[B, H, N, D]') and gives the rank,
 * unless `rank` says otherwise ('any': any rank ≥ 1). `float16`: a Float16Tensor is taken too
 * (q, k, v, dout, uploads, KV cache appends); else only float32. `half`: keep float16 data as its
 * bits (the backend stores float16).
 */
function checkHostTensor(name: string, t: unknown, dims: string, rank: number | 'any', float16: boolean, half = false): HostOperand {
  if (t === null || typeof t !== 'object') throw errors.notObject(name, t);
  if (isDeviceTensor(t)) throw errors.deviceTensorNotAccepted(name);
  const { data, shape, dtype } = t as { data?: unknown; shape?: unknown; dtype?: unknown };
  if (!float16 && dtype === 'float16') throw errors.float32Only(name);
  if (!float16 && dtype !== undefined && dtype !== 'float32') throw errors.badChoice(`${name}.dtype`, ['float32'], dtype);
  if (!float16 && !(data instanceof Float32Array)) throw errors.notFloat32(name, data);
  const storage = storageOf(name, data, dtype);
  const dataShape = checkShapeArray(name, shape, rank, dims);
  const size = dataShape.reduce((a, b) => a * b, 1);
  const values = data as Float32Array | Uint16Array | Float16ArrayLike;
  if (values.length !== size) throw errors.badLength(name, values.length, dataShape, size);
  return { shape: dataShape, data: toBackend(values, storage, half), storage };
}

/** A float32 Tensor (see checkHostTensor). */
export function checkTensor(name: string, t: unknown, dims: string, rank: number | 'any' = dims.split(',').length): Tensor {
  checkHostTensor(name, t, dims, rank, false);
  return t as Tensor;
}

/** A Tensor of either dtype, its float16 data converted to float32 unless `half` (see checkHostTensor). */
export function checkAnyTensor(name: string, t: unknown, dims: string, rank: number | 'any' = dims.split(',').length, half = false): HostOperand {
  return checkHostTensor(name, t, dims, rank, true, half);
}

/**
 * A Tensor of either dtype, or a live DeviceTensor made by `owner` (an engine; none: DeviceTensors
 * are refused), as the shape, the data a backend receives (float32, or float16 bits where `half`:
 * the backend stores float16) and the storage results take.
 */
export function checkOperand(name: string, t: unknown, dims: string, owner?: object, half = false): { shape: number[]; data: OperandData; storage: Storage } {
  if (!isDeviceTensor(t)) return checkAnyTensor(name, t, dims, dims.split(',').length, half);
  if (owner === undefined || t.owner !== owner) throw errors.foreignDeviceTensor(name);
  if (t.destroyed) throw errors.destroyedDeviceTensor(name);
  return { shape: checkShapeArray(name, [...t.shape], dims.split(',').length, dims), data: t.resident, storage: t.storage };
}

/** The shape must equal `expected` exactly; `dims` names each dimension. */
export function checkShapeEquals(name: string, t: { shape: readonly number[] }, expected: number[], dims: string[]): void {
  for (let i = 0; i < expected.length; i++) {
    if (t.shape[i] !== expected[i]) throw errors.mismatch(name, `shape[${i}] (${dims[i]})`, expected[i], t.shape[i]);
  }
}

/**
 * A structurally valid Layout: `block` and `shape` positive integers, `data` a Uint8Array of H*R*C
 * (`batched`: also [B, H, R, C], one layout per batch row, which attention takes). The one check of
 * a Layout, for the engine, the layout tools and BlockSparseLinear.
 */
export function checkLayout(name: string, layout: unknown, batched = false): Layout {
  if (layout === null || typeof layout !== 'object') throw errors.notLayout(name, layout);
  const { block, shape } = layout as Partial<Layout>;
  const expected = batched ? '[H, R, C] or [B, H, R, C]' : '[H, R, C]';
  blockSide(`${name}.block`, block);
  if (!Array.isArray(shape)) throw errors.badShape(name, expected, shape, true);
  if (shape.length !== 3 && !(batched && shape.length === 4)) throw errors.badShape(name, expected, shape);
  shape.forEach((d, i) => positiveInt(`${name}.shape[${i}]`, d));
  // a selection held as its rows has its shape's bytes, built only when read
  if (selectedRows(layout)) return layout as Layout;
  const data = (layout as Partial<Layout>).data;
  if (!(data instanceof Uint8Array)) throw errors.notUint8(name, data);
  const size = (shape as number[]).reduce((a, d) => a * d, 1);
  if (data.length !== size) throw errors.badLength(name, data.length, shape, size);
  return layout as Layout;
}

/** The public compileLayout: the layout checked first (the engine's own calls have checked it already). */
export function compileCheckedLayout(layout: Layout | BatchedLayout): CompiledLayout {
  return compileLayout(checkLayout('layout', layout, true));
}

export function checkBlockSparse(name: string, x: unknown): BlockSparseTensor {
  if (x === null || typeof x !== 'object') throw errors.notObject(name, x);
  const t = x as BlockSparseTensor;
  const layout = checkLayout(`${name}.layout`, t.layout);
  if (!(t.data instanceof Float32Array)) throw errors.notFloat32(name, t.data);
  // nnz may be 0 (a layout that keeps nothing): every other dimension is positive
  const shape = t.shape as unknown;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d, i) => (i === 1 ? Number.isInteger(d) && d >= 0 : isPositiveInt(d)))) {
    throw errors.badShape(name, '[B, nnz, block, block]', shape);
  }
  const nnz = compileLayout(layout).nnz; // cached: no scan of the layout on every call
  const [B, n, b1, b2] = t.shape;
  if (n !== nnz) throw errors.mismatch(name, 'shape[1] (the layout\'s kept blocks)', nnz, n);
  if (b1 !== layout.block || b2 !== layout.block) throw errors.mismatch(name, 'shape[2] and shape[3] (block)', layout.block, b1 !== layout.block ? b1 : b2);
  const size = B * nnz * layout.block * layout.block;
  if (t.data.length !== size) throw errors.badLength(name, t.data.length, t.shape, size);
  return t;
}

export function checkScale(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw errors.notNumber('scale', v);
  if (!Number.isFinite(v)) throw errors.notFinite('scale', v);
  return v;
}

export function checkBoolean(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw errors.notBoolean(name, v);
  return v;
}

export function checkChoice<T extends string>(name: string, v: unknown, choices: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!choices.includes(v as T)) throw errors.badChoice(name, choices, v);
  return v as T;
}

/** Same block, shape and kept blocks. */
export function sameLayout(a: Layout, b: Layout): boolean {
  if (a === b || a.data === b.data) return a.block === b.block && a.shape.every((x, i) => x === b.shape[i]);
  if (a.block !== b.block || !a.shape.every((x, i) => x === b.shape[i])) return false;
  for (let i = 0; i < a.data.length; i++) if ((a.data[i] !== 0) !== (b.data[i] !== 0)) return false;
  return true;
}
