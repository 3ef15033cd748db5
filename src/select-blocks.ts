// engine.selectBlocks' arguments checked and resolved into the problem both backends take
// (backend.ts SelectBlocksProblem), with attention's checks of q, k or kv, qOffset and keyLengths.
import type { KvSummaryData, OperandData, SelectBlocksProblem } from './backend.js';
import type { KvCacheHandle } from './kv-cache.js';
import type { Storage } from './dtype.js';
import { errors } from './errors.js';
import { blockSide, positiveInt } from './layouts/args.js';
import { checkArgNames } from './arg-names.js';
import { blocksCovering, checkKeyLengths, checkKvCache, checkQOffset, sameDtype } from './problems.js';
import type { SelectBlocksArgs, SelectBlocksKeep } from './types.js';
import { checkBoolean, checkChoice, checkOperand, checkScale } from './validate.js';

const BHND = ['B', 'H', 'N', 'D'];
const SCORES = ['mean', 'bound'] as const;

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
  checkArgNames('keep', v);
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

/** The keys: a tensor k, or a KV cache's first `length` (kvStride its capacity). */
function checkKeys(args: SelectBlocksArgs, q: { shape: number[]; storage: Storage }, owner?: object) {
  if (args.kv !== undefined && args.k !== undefined) throw errors.selectKeysBoth();
  if (args.kv !== undefined) {
    const kv = checkKvCache(args.kv, q, owner);
    return { Hkv: kv.kvHeads, Nk: kv.length, kvStride: kv.capacity, k: kv.data.k as OperandData, summaryBlock: kv.summaryBlock, cache: kv };
  }
  if (args.k === undefined) throw errors.selectKeysMissing();
  const k = checkOperand('k', args.k, '[B, Hkv, Nk, D]', owner);
  sameDtype('k', k.storage, q.storage);
  for (const i of [0, 3]) if (k.shape[i] !== q.shape[i]) throw errors.mismatch('k', `shape[${i}] (${BHND[i]})`, q.shape[i], k.shape[i]);
  return { Hkv: k.shape[1], Nk: k.shape[2], kvStride: k.shape[2], k: k.data, summaryBlock: null, cache: null };
}

/**
 * The cache's summaries where they hold exactly the blocks the call pools: blocks of this call's
 * size, every batch row's valid keys ending at the cache's length or at a block's end (the last
 * block's summary covers the keys held), no append under way (its tokens may be in them already).
 */
function summariesFor(cache: KvCacheHandle | null, block: number, keyLengths: Int32Array): KvSummaryData | undefined {
  const s = cache?.data.summaries;
  if (!cache || !s || s.block !== block || cache.appending > 0) return undefined;
  return keyLengths.every((n) => n === cache.length || n % block === 0) ? s : undefined;
}

/** `owner`: the engine whose DeviceTensors q and k, and KV caches, may be. */
export function selectBlocksProblem(args: SelectBlocksArgs, owner?: object): CheckedSelectBlocks {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const q = checkOperand('q', args.q, '[B, Hq, Nq, D]', owner);
  const [B, Hq, Nq, D] = q.shape;
  const keys = checkKeys(args, q, owner);
  const { Hkv, Nk } = keys;
  if (Hq % Hkv !== 0) throw errors.kvHeadsDivide(Hq, Hkv);
  const block = blockSide('block', args.block ?? keys.summaryBlock ?? undefined);
  const score = checkChoice('score', args.score, SCORES, 'mean');
  const { topK, threshold } = checkRule(args.topK, args.threshold);
  const given = checkKeyLengths(args.keyLengths, B, Nk, keys.cache !== null);
  const keyLengths = given ?? new Int32Array(B).fill(Nk);
  const qOffset = checkQOffset(args.qOffset, given, B, Nq, Nk);
  const keep = checkKeep(args.keep);
  const { R, C } = blocksCovering(block, Nq, Nk, qOffset);
  // counts past the row mean the whole row; capped, they stay 32-bit integers for the kernels (first
  // at C columns; local at R, since row r keeps r − local … r − 1 and r reaches R − 1 > C where the
  // queries sit past the keys)
  return {
    q: q.data, k: keys.k, kvStride: keys.kvStride, score, summaries: summariesFor(keys.cache, block, keyLengths), B, Hq, Hkv, Nq, Nk, D, block,
    R, C,
    qOffset: Int32Array.from(qOffset), keyLengths: Int32Array.from(keyLengths),
    causal: checkBoolean('causal', args.causal), scale: checkScale(args.scale, 1 / Math.sqrt(D)),
    topK: Math.min(topK, C), threshold, keepDiagonal: keep.diagonal, keepFirst: Math.min(keep.first, C), keepLocal: Math.min(keep.local, R),
    keepOnDevice: checkBoolean('keepOnDevice', args.keepOnDevice), storage: q.storage,
  };
}

