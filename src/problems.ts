// Turns validated public arguments into the normalised problems every backend receives
// (backend.ts): shapes resolved, defaults applied, masks in additive form.
import type { AttentionBackwardProblem, AttentionProblem, MatmulProblem, OperandData, ResidentLayoutData, SoftmaxBackwardProblem, SoftmaxProblem } from './backend.js';
import { errors } from './errors.js';
import { dtypeOf, type Storage } from './dtype.js';
import { compileLayout, type CompiledLayout } from './layouts/compile.js';
import { fitLayout } from './layouts/fit.js';
import { isKvCache, type KvCacheHandle } from './kv-cache.js';
import { checkSelectionShape, layoutArgument } from './device-layout.js';
import type { AttentionArgs, AttentionBackwardArgs, KvAttentionArgs, BatchedLayout, Layout, MaskMode, MatmulArgs, ScoreOptions, SoftmaxArgs, SoftmaxBackwardArgs } from './types.js';
import { checkBlockSparse, checkBoolean, checkChoice, checkLayout, checkOperand, checkScale, checkShapeEquals, checkTensor, sameLayout } from './validate.js';

const MASK_MODES = ['add', 'mul'] as const;
const BHND = ['B', 'H', 'N', 'D'];
const KV_DIMS = ['B', 'Hkv', 'N', 'D'];

/** DeepSpeed's 'mul' mode: 0 masks the position (−∞), anything else keeps it (0). */
export function additiveMask(data: Float32Array, mode: MaskMode): Float32Array {
  if (mode === 'add') return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] === 0 ? -Infinity : 0;
  return out;
}

/** rpe [B, H, rows, cols], keyPaddingMask [B, cols], attnMask [rows, cols] (rows: query rows, cols: keys). */
function masks(args: ScoreOptions, B: number, H: number, N: number, cols = N) {
  let rpe: Float32Array | null = null;
  let keyPadding: Float32Array | null = null;
  let attnMask: Float32Array | null = null;
  const kpmMode = checkChoice('keyPaddingMaskMode', args.keyPaddingMaskMode, MASK_MODES, 'add');
  const amMode = checkChoice('attnMaskMode', args.attnMaskMode, MASK_MODES, 'mul');
  if (args.rpe !== undefined) {
    const t = checkTensor('rpe', args.rpe, cols === N ? '[B, H, N, N]' : '[B, H, Nq, Nk]');
    checkShapeEquals('rpe', t, [B, H, N, cols], cols === N ? ['B', 'H', 'N', 'N'] : ['B', 'H', 'Nq', 'Nk']);
    rpe = t.data;
  }
  if (args.keyPaddingMask !== undefined) {
    const t = checkTensor('keyPaddingMask', args.keyPaddingMask, cols === N ? '[B, N]' : '[B, Nk]');
    checkShapeEquals('keyPaddingMask', t, [B, cols], ['B', cols === N ? 'N' : 'Nk']);
    keyPadding = additiveMask(t.data, kpmMode);
  }
  if (args.attnMask !== undefined) {
    const t = checkTensor('attnMask', args.attnMask, cols === N ? '[N, N]' : '[Nq, Nk]');
    checkShapeEquals('attnMask', t, [N, cols], cols === N ? ['N', 'N'] : ['Nq', 'Nk']);
    attnMask = additiveMask(t.data, amMode);
  }
  return { rpe, keyPadding, attnMask };
}

/** keyLengths: an Int32Array [B] of lengths in [0, Nk] (Nk a KV cache's length: `cached`), or null. */
export function checkKeyLengths(v: unknown, B: number, Nk: number, cached: boolean): Int32Array | null {
  if (v === undefined) return null;
  if (!(v instanceof Int32Array)) throw errors.notKeyLengths(v);
  if (v.length !== B) throw errors.keyLengthsLength(B, v.length);
  v.forEach((n, b) => {
    if (n < 0 || n > Nk) throw cached ? errors.keyLengthPastCache(b, Nk, n) : errors.keyLengthOutOfRange(b, Nk, n);
  });
  return v;
}

/**
 * qOffset as API.md states it, resolved per batch row: a non-negative integer or an Int32Array [B];
 * by default keyLengths[b] − Nq (Nk − Nq without keyLengths), each row's last positions.
 */
export function checkQOffset(v: unknown, keyLengths: Int32Array | null, B: number, Nq: number, Nk: number): Int32Array {
  if (v === undefined) {
    const offsets = Int32Array.from({ length: B }, (_, b) => (keyLengths ? keyLengths[b] : Nk) - Nq);
    for (let b = 0; b < B; b++) if (offsets[b] < 0) throw errors.qOffsetNegative(b, offsets[b], true, keyLengths !== null);
    return offsets;
  }
  // positions qOffset … qOffset + Nq − 1 are 32-bit integers in the kernels
  const last = 2 ** 31 - 1 - Nq;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw errors.notQOffset(v);
    if (v < 0) throw errors.qOffsetNegative(-1, v, false);
    if (v > last) throw errors.qOffsetTooLarge(-1, v, last);
    return new Int32Array(B).fill(v);
  }
  if (v instanceof Int32Array) {
    if (v.length !== B) throw errors.qOffsetLength(B, v.length);
    for (let b = 0; b < B; b++) {
      if (v[b] < 0) throw errors.qOffsetNegative(b, v[b], false);
      if (v[b] > last) throw errors.qOffsetTooLarge(b, v[b], last);
    }
    return v;
  }
  throw errors.notQOffset(v);
}

/** keyLengths folded into the additive key padding: keys of batch row b past keyLengths[b] are −∞. */
function withKeyLengths<T extends { keyPadding: Float32Array | null }>(m: T, keyLengths: Int32Array | null, B: number, Nk: number): T {
  if (!keyLengths) return m;
  const kp = m.keyPadding ? Float32Array.from(m.keyPadding) : new Float32Array(B * Nk);
  for (let b = 0; b < B; b++) kp.fill(-Infinity, b * Nk + keyLengths[b], (b + 1) * Nk);
  return { ...m, keyPadding: kp };
}

/** k and v as a call reads them: tensors, or a KV cache's first `length` tokens (kvStride its capacity). */
interface KeysAndValues {
  Hkv: number;
  Nk: number;
  kvStride: number;
  k: OperandData;
  v: OperandData;
  /** The cache's capacity: the layout is fitted to it, so that it is compiled once for every length. */
  capacity: number | null;
}

/** Every operand of a call has q's dtype (API.md: one dtype in a call); `name` is the one checked. */
export function sameDtype(name: string, storage: Storage, q: Storage): void {
  if (dtypeOf(storage) !== dtypeOf(q)) throw errors.dtypesDiffer(name, dtypeOf(storage), 'q', dtypeOf(q));
}

/** A KV cache that q [B, H, Nq, D] may attend over: this engine's (`owner`), live, not empty, of q's B, D and dtype. */
export function checkKvCache(kv: unknown, q: { shape: number[]; storage: Storage }, owner?: object): KvCacheHandle {
  const [B, H, , D] = q.shape;
  if (!isKvCache(kv)) throw errors.notKvCache(kv);
  if (owner === undefined || kv.owner !== owner) throw errors.foreignKvCache();
  if (kv.destroyed) throw errors.destroyedKvCache();
  if (kv.batch !== B) throw errors.mismatch('q', 'shape[0] (B, the cache\'s batch)', kv.batch, B);
  if (kv.headDim !== D) throw errors.mismatch('q', 'shape[3] (D, the cache\'s headDim)', kv.headDim, D);
  if (H % kv.kvHeads !== 0) throw errors.kvHeadsDivide(H, kv.kvHeads, 'kv.kvHeads');
  if (kv.dtype !== dtypeOf(q.storage)) throw errors.dtypesDiffer('kv', `a ${kv.dtype} KvCache`, 'q', dtypeOf(q.storage));
  if (kv.length === 0) throw errors.emptyKvCache();
  return kv;
}

function keysAndValues(args: AttentionArgs | KvAttentionArgs, q: { shape: number[]; storage: Storage }, owner?: object, half = false): KeysAndValues {
  const [B, H, , D] = q.shape;
  if (args.kv !== undefined) {
    if (isKvCache(args.kv) && args.k !== undefined) throw errors.kvWithKeys('k');
    if (isKvCache(args.kv) && args.v !== undefined) throw errors.kvWithKeys('v');
    const kv = checkKvCache(args.kv, q, owner);
    return { Hkv: kv.kvHeads, Nk: kv.length, kvStride: kv.capacity, k: kv.data.k, v: kv.data.v, capacity: kv.capacity };
  }
  // k and v [B, Hkv, Nk, D]: Hkv divides Hq (GQA, MQA; Hkv = Hq is plain multi-head attention)
  const k = checkOperand('k', args.k, '[B, Hkv, Nk, D]', owner, half);
  sameDtype('k', k.storage, q.storage);
  for (const i of [0, 3]) if (k.shape[i] !== q.shape[i]) throw errors.mismatch('k', `shape[${i}] (${BHND[i]})`, q.shape[i], k.shape[i]);
  const [, Hkv, Nk] = k.shape;
  if (H % Hkv !== 0) throw errors.kvHeadsDivide(H, Hkv);
  const v = checkOperand('v', args.v, '[B, Hkv, Nk, D]', owner, half);
  sameDtype('v', v.storage, q.storage);
  for (let i = 0; i < 4; i++) if (v.shape[i] !== k.shape[i]) throw errors.kvShapesDiffer(i, KV_DIMS[i], k.shape[i], v.shape[i]);
  return { Hkv, Nk, kvStride: Nk, k: k.data, v: v.data, capacity: null };
}

/**
 * An attention problem and the storage of its q (float16 inputs arrive converted to float32, or as
 * their bits for a backend that stores float16; the engine gives the results back in this
 * storage). The backend ignores `storage`.
 */
export type CheckedAttention<T extends OperandData = Float32Array> = AttentionProblem<T> & { storage: Storage };
export type CheckedAttentionBackward<T extends OperandData = Float32Array> = AttentionBackwardProblem<T> & { storage: Storage };

/**
 * `owner`: the engine whose DeviceTensors q, k, v (and dout) and KV caches may be; without one,
 * only Tensors are taken and the problem holds host data (float32). `half`: the backend stores
 * float16, so float16 host data stays half-float bits.
 */
export function attentionProblem(args: AttentionArgs): CheckedAttention;
export function attentionProblem(args: AttentionArgs | KvAttentionArgs, owner: object, half?: boolean): CheckedAttention<OperandData>;
export function attentionProblem(args: AttentionArgs | KvAttentionArgs, owner?: object, half = false): CheckedAttention<OperandData> {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const q = checkOperand('q', args.q, '[B, H, Nq, D]', owner, half);
  const [B, H, N, D] = q.shape;
  const { Hkv, Nk, kvStride, k, v, capacity } = keysAndValues(args, q, owner, half);
  const keyLengths = checkKeyLengths(args.keyLengths, B, Nk, capacity !== null);
  const qOffset = checkQOffset(args.qOffset, keyLengths, B, N, Nk);
  const arg = layoutArgument('layout', args.layout, owner);
  if ('selection' in arg && arg.selection) checkSelectionShape(arg.selection, B, H);
  const layout = 'held' in arg ? heldLayoutStandIn(arg.held, B, H, N, Nk, qOffset)
    : compileLayout(fitAttentionLayout(checkLayout('layout', arg.given, true), B, H, N, Nk, qOffset, capacity));
  const scale = checkScale(args.scale, 1 / Math.sqrt(D));
  const causal = checkBoolean('causal', args.causal);
  const keepOnDevice = checkBoolean('keepOnDevice', args.keepOnDevice);
  const returnLse = checkBoolean('returnLse', args.returnLse);
  return {
    B, H, Hkv, N, Nk, qOffset, D, returnLse, q: q.data, k, v, kvStride, layout, scale, causal, keepOnDevice,
    ...withKeyLengths(masks(args, B, H, N, Nk), keyLengths, B, Nk), storage: q.storage,
    ...('held' in arg ? { residentLayout: arg.held } : {}),
  };
}

/** The block rows a call's queries reach (every batch row's last position) and the block columns its keys fill. */
export function blocksCovering(block: number, Nq: number, Nk: number, qOffset: Int32Array): { R: number; C: number } {
  return { R: Math.ceil((Math.max(...qOffset) + Nq) / block), C: Math.ceil(Nk / block) };
}

// one empty block per block size: what p.layout holds beside a residentLayout, which the backend reads instead
const standIns = new Map<number, CompiledLayout>();

/**
 * A layout the backend holds (selectBlocks with keepOnDevice), checked against the call: one layout
 * head per query head and one per batch row (the selection's shape), block rows covering every
 * batch row's last query position and block columns every key. The compiled layout returned is a
 * one-block stand-in of the same block size (p.layout; the backend reads p.residentLayout).
 */
function heldLayoutStandIn(held: ResidentLayoutData, B: number, H: number, Nq: number, Nk: number, qOffset: Int32Array): CompiledLayout {
  const [, , Rl, Cl] = held.shape;
  const block = held.block;
  checkSelectionShape(held.shape, B, H);
  const { R, C } = blocksCovering(block, Nq, Nk, qOffset);
  if (Rl < R) throw errors.layoutTooSmall('shape[2]', 'ceil((qOffset + Nq) / block)', R, Rl);
  if (Cl < C) throw errors.layoutTooSmall('shape[3]', 'ceil(Nk / block)', C, Cl);
  let standIn = standIns.get(block);
  if (!standIn) standIns.set(block, (standIn = compileLayout({ block, shape: [1, 1, 1], data: new Uint8Array(1) })));
  return standIn;
}

/**
 * The given layout, checked against the call and fitted to it: Hl divides H, a batched layout has B
 * batch rows, block rows cover every batch row's last query position and block columns every key.
 * Over a KV cache (`capacity`) it is fitted to the capacity where it covers it, not to the length,
 * so that every decode step reads the same fitted, compiled layout (blocks past the length are not read).
 */
function fitAttentionLayout(given: Layout | BatchedLayout, B: number, H: number, Nq: number, Nk: number, qOffset: Int32Array, capacity: number | null) {
  const shape = given.shape as readonly number[];
  const batched = shape.length === 4;
  const at = batched ? 1 : 0;
  if (batched && shape[0] !== B) throw errors.mismatch('layout', 'shape[0] (B, one layout per batch row)', B, shape[0]);
  const [Hl, Rl, Cl] = shape.slice(at);
  if (H % Hl !== 0) throw errors.layoutHeadsDivide(H, Hl, at);
  const block = given.block;
  const { R, C } = blocksCovering(block, Nq, Nk, qOffset);
  const exact = Nq === Nk && Math.max(...qOffset) === 0;
  if (Rl < R) throw errors.layoutTooSmall(`shape[${at + 1}]`, exact ? 'ceil(N / block)' : 'ceil((qOffset + Nq) / block)', R, Rl);
  if (Cl < C) throw errors.layoutTooSmall(`shape[${at + 2}]`, exact ? 'ceil(N / block)' : 'ceil(Nk / block)', C, Cl);
  if (capacity === null) return fitLayout(given, H, R, C);
  const whole = Math.ceil(capacity / block);
  return fitLayout(given, H, Math.max(R, Math.min(Rl, whole)), Math.max(C, Math.min(Cl, whole)));
}

export function attentionBackwardProblem(args: AttentionBackwardArgs): CheckedAttentionBackward;
export function attentionBackwardProblem(args: AttentionBackwardArgs, owner: object, half?: boolean): CheckedAttentionBackward<OperandData>;
export function attentionBackwardProblem(args: AttentionBackwardArgs, owner?: object, half = false): CheckedAttentionBackward<OperandData> {
  if ((args as { kv?: unknown }).kv !== undefined) throw errors.kvNotForBackward();
  const p = attentionProblem(args, owner as object, half);
  const dout = checkOperand('dout', args.dout, '[B, H, Nq, D]', owner, half);
  sameDtype('dout', dout.storage, p.storage);
  checkShapeEquals('dout', dout, [p.B, p.H, p.N, p.D], BHND);
  return { ...p, dout: dout.data };
}

/** A matmul call after validation: the backend's problem and the shape of what it returns. */
export interface CheckedMatmul {
  problem: MatmulProblem;
  /** Shape of the dense result (dsd, dds) or of the block data (sdd). */
  outShape: number[];
}

export function matmulProblem(args: MatmulArgs): CheckedMatmul {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const mode = checkChoice('mode', args.mode, ['sdd', 'dsd', 'dds'] as const, 'sdd');
  if (args.mode === undefined) throw errors.badChoice('mode', ['sdd', 'dsd', 'dds'], undefined);
  const transA = checkBoolean('transA', args.transA);
  const transB = checkBoolean('transB', args.transB);
  // stored dims of a dense operand [B, H, rows, cols]; op() swaps rows and cols when transposed
  const dense = (name: string, t: unknown) => checkTensor(name, t, '[B, H, rows, cols]');
  const op = (rows: number, cols: number, trans: boolean): [number, number] => (trans ? [cols, rows] : [rows, cols]);
  if (mode === 'sdd') {
    const a = dense('a', args.a);
    const b = dense('b', args.b);
    const layout = checkLayout('layout', (args as { layout?: unknown }).layout);
    const [B, H] = a.shape;
    checkShapeEquals('b', b, [B, H], ['B', 'H']);
    const [M, K] = op(a.shape[2], a.shape[3], transA);
    const [Kb, N] = op(b.shape[2], b.shape[3], transB);
    if (Kb !== K) throw errors.mismatch('b', `shape[${transB ? 3 : 2}] (the inner dimension K of a)`, K, Kb);
    const block = layout.block;
    if (M % block !== 0) throw errors.blockDivides(block, 'the rows M of op(a)', M);
    if (N % block !== 0) throw errors.blockDivides(block, 'the columns N of op(b)', N);
    if (layout.shape[0] !== H) throw errors.mismatch('layout', 'shape[0] (H)', H, layout.shape[0]);
    if (layout.shape[1] !== M / block) throw errors.mismatch('layout', 'shape[1] (M / block)', M / block, layout.shape[1]);
    if (layout.shape[2] !== N / block) throw errors.mismatch('layout', 'shape[2] (N / block)', N / block, layout.shape[2]);
    const compiled = compileLayout(layout);
    return {
      problem: { mode, B, H, M, K, N, a: a.data, b: b.data, transA, transB, layout: compiled },
      outShape: [B, compiled.nnz, block, block],
    };
  }
  if (mode === 'dsd') {
    const a = checkBlockSparse('a', args.a);
    const b = dense('b', args.b);
    const [H, R, C] = a.layout.shape;
    const block = a.layout.block;
    const B = a.shape[0];
    checkShapeEquals('b', b, [B, H], ['B', 'H']);
    const [M, K] = op(R * block, C * block, transA);
    const [Kb, N] = op(b.shape[2], b.shape[3], transB);
    if (Kb !== K) throw errors.mismatch('b', `shape[${transB ? 3 : 2}] (the columns K of op(a))`, K, Kb);
    return {
      problem: { mode, B, H, M, K, N, a: a.data, b: b.data, transA, transB, layout: compileLayout(a.layout) },
      outShape: [B, H, M, N],
    };
  }
  const a = dense('a', args.a);
  const b = checkBlockSparse('b', args.b);
  const [H, R, C] = b.layout.shape;
  const block = b.layout.block;
  const B = b.shape[0];
  checkShapeEquals('a', a, [B, H], ['B', 'H']);
  const [M, K] = op(a.shape[2], a.shape[3], transA);
  const [Kb, N] = op(R * block, C * block, transB);
  if (Kb !== K) throw errors.mismatch('a', `shape[${transA ? 2 : 3}] (the rows K of op(b))`, Kb, K);
  return {
    problem: { mode, B, H, M, K, N, a: a.data, b: b.data, transA, transB, layout: compileLayout(b.layout) },
    outShape: [B, H, M, N],
  };
}

export function softmaxProblem(args: SoftmaxArgs): SoftmaxProblem {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const x = checkBlockSparse('x', args.x);
  const [H, R, C] = x.layout.shape;
  if (R !== C) throw errors.notSquare('x', x.layout.shape);
  const B = x.shape[0];
  const N = R * x.layout.block;
  const scale = checkScale(args.scale, 1);
  const causal = checkBoolean('causal', args.causal);
  return { B, H, N, x: x.data, layout: compileLayout(x.layout), scale, causal, ...masks(args, B, H, N) };
}

export function softmaxBackwardProblem(args: SoftmaxBackwardArgs): SoftmaxBackwardProblem {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const y = checkBlockSparse('y', args.y);
  const dy = checkBlockSparse('dy', args.dy);
  if (!sameLayout(y.layout, dy.layout)) throw errors.layoutsDiffer('y', 'dy');
  if (dy.shape[0] !== y.shape[0]) throw errors.mismatch('dy', 'shape[0] (B)', y.shape[0], dy.shape[0]);
  const [H, R, C] = y.layout.shape;
  if (R !== C) throw errors.notSquare('y', y.layout.shape);
  const scale = checkScale(args.scale, 1);
  return { B: y.shape[0], H, N: R * y.layout.block, y: y.data, dy: dy.data, layout: compileLayout(y.layout), scale };
}
