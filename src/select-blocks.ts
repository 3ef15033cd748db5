// engine.selectBlocks' arguments checked and resolved into the problem both backends take
// (backend.ts SelectBlocksProblem), with attention's checks of q, k, qOffset and keyLengths.
import type { OperandData, SelectBlocksProblem } from './backend.js';
import type { Storage } from './dtype.js';
import { errors } from './errors.js';
import { positiveInt } from './layouts/args.js';
import { checkKeyLengths, checkQOffset, sameDtype } from './problems.js';
import type { SelectBlocksArgs, SelectBlocksKeep } from './types.js';
import { checkBoolean, checkOperand, checkScale } from './validate.js';

const BHND = ['B', 'H', 'N', 'D'];

export type CheckedSelectBlocks = SelectBlocksProblem<OperandData> & { keepOnDevice: boolean; storage: Storage };

function nonNegativeInt(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw errors.nonNegativeInt(name, v, true);
  if (v < 0) throw errors.nonNegativeInt(name, v);
  return v;
}

function checkKeep(v: unknown): Required<SelectBlocksKeep> {
  if (v === undefined) return { diagonal: false, first: 0, local: 0 };
  if (v === null || typeof v !== 'object') throw errors.notObject('keep', v);
  const k = v as SelectBlocksKeep;
  return { diagonal: checkBoolean('keep.diagonal', k.diagonal), first: nonNegativeInt('keep.first', k.first), local: nonNegativeInt('keep.local', k.local) };
}

/** topK (≥ 1, threshold 0) or threshold (in (0, 1], topK 0): exactly one. */
function checkRule(topK: unknown, threshold: unknown): { topK: number; threshold: number } {
  if (topK === undefined && threshold === undefined) throw errors.selectRuleMissing();
  if (topK !== undefined && threshold !== undefined) throw errors.selectRuleBoth();
  if (topK !== undefined) {
    positiveInt('topK', topK);
    return { topK: topK as number, threshold: 0 };
  }
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) throw errors.notThreshold(threshold);
  return { topK: 0, threshold };
}

/** `owner`: the engine whose DeviceTensors q and k may be. */
export function selectBlocksProblem(args: SelectBlocksArgs, owner?: object): CheckedSelectBlocks {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const q = checkOperand('q', args.q, '[B, Hq, Nq, D]', owner);
  const [B, Hq, Nq, D] = q.shape;
  const k = checkOperand('k', args.k, '[B, Hkv, Nk, D]', owner);
  sameDtype('k', k.storage, q.storage);
  for (const i of [0, 3]) if (k.shape[i] !== q.shape[i]) throw errors.mismatch('k', `shape[${i}] (${BHND[i]})`, q.shape[i], k.shape[i]);
  const [, Hkv, Nk] = k.shape;
  if (Hq % Hkv !== 0) throw errors.kvHeadsDivide(Hq, Hkv);
  positiveInt('block', args.block);
  const block = args.block;
  const { topK, threshold } = checkRule(args.topK, args.threshold);
  const given = checkKeyLengths(args.keyLengths, B, Nk, false);
  given?.forEach((n, b) => {
    if (n < 1) throw errors.selectKeyLength(b, Nk, n);
  });
  const keyLengths = given ?? new Int32Array(B).fill(Nk);
  const qOffset = checkQOffset(args.qOffset, given, B, Nq, Nk);
  const keep = checkKeep(args.keep);
  const C = Math.ceil(Nk / block);
  // counts past the row mean the whole row: capped at C, they stay 32-bit integers for the kernels
  return {
    q: q.data, k: k.data, B, Hq, Hkv, Nq, Nk, D, block,
    R: Math.ceil((Math.max(...qOffset) + Nq) / block), C,
    qOffset: Int32Array.from(qOffset), keyLengths: Int32Array.from(keyLengths),
    causal: checkBoolean('causal', args.causal), scale: checkScale(args.scale, 1 / Math.sqrt(D)),
    topK: Math.min(topK, C), threshold, keepDiagonal: keep.diagonal, keepFirst: Math.min(keep.first, C), keepLocal: Math.min(keep.local, C),
    keepOnDevice: checkBoolean('keepOnDevice', args.keepOnDevice), storage: q.storage,
  };
}
