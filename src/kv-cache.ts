// The public face of a KV cache (types.ts KvCache): the backend's memory (KvCacheData), the tokens
// it holds and the engine that made it. Every append is checked here, and the length changes only
// once the backend has taken the tokens, so a refused or failed append leaves the cache as it was.
import type { KvCacheData } from './backend.js';
import { errors } from './errors.js';
import { dtypeOf } from './dtype.js';
import type { BackendName, Dtype, KvCache, KvCacheOptions, TensorInput } from './types.js';
import { blockSide, positiveInt } from './layouts/args.js';
import { checkChoice, checkOperand } from './validate.js';

// Symbol.for: a second copy of this module (a bundle beside dist/) still recognises the brand
const BRAND = Symbol.for('blocksparse.KvCache');

/** createKvCache's options, checked (summaryBlock null where not asked for). */
export type CheckedKvCacheOptions = Required<Omit<KvCacheOptions, 'summaryBlock'>> & { summaryBlock: number | null };

export function checkKvCacheOptions(options: unknown): CheckedKvCacheOptions {
  if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
  const o = options as KvCacheOptions;
  positiveInt('batch', o.batch);
  positiveInt('kvHeads', o.kvHeads);
  positiveInt('headDim', o.headDim);
  positiveInt('capacity', o.capacity);
  const dtype = checkChoice('dtype', o.dtype, ['float32', 'float16'] as const, 'float32');
  const summaryBlock = o.summaryBlock === undefined ? null : blockSide('summaryBlock', o.summaryBlock);
  return { batch: o.batch, kvHeads: o.kvHeads, headDim: o.headDim, capacity: o.capacity, dtype, summaryBlock };
}

export class KvCacheHandle implements KvCache {
  readonly [BRAND] = true;
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly capacity: number;
  /** float16 tokens are held as half floats where the backend stores float16 (KvCacheData.dtype), else as float32 (converted at the append). */
  readonly dtype: Dtype;
  readonly summaryBlock: number | null;
  private held = 0;
  /** Tokens of appends under way: a second append checks its capacity against them too. */
  private pending = 0;
  /** Counts resets: an append under way across a reset was forgotten with it, and adds nothing. */
  private resets = 0;

  constructor(
    options: CheckedKvCacheOptions,
    readonly backend: BackendName,
    /** @internal */ readonly data: KvCacheData,
    /** @internal the engine that made it */ readonly owner: object,
    private readonly onDestroy: (cache: KvCacheHandle) => void,
  ) {
    this.batch = options.batch;
    this.kvHeads = options.kvHeads;
    this.headDim = options.headDim;
    this.capacity = options.capacity;
    this.dtype = options.dtype;
    this.summaryBlock = options.summaryBlock;
  }

  get length(): number {
    return this.held;
  }

  get destroyed(): boolean {
    return this.data.destroyed;
  }

  /** @internal Tokens of appends under way: the backend may already hold them (its summaries too). */
  get appending(): number {
    return this.pending;
  }

  async append(tokens: { k: TensorInput; v: TensorInput }): Promise<void> {
    if (this.destroyed) throw errors.destroyedKvCache();
    if (tokens === null || typeof tokens !== 'object') throw errors.notObject('tokens', tokens);
    const half = this.data.dtype === 'float16';
    const k = checkOperand('k', tokens.k, '[B, Hkv, n, D]', this.owner, half);
    if (dtypeOf(k.storage) !== this.dtype) throw errors.kvDtypesDiffer('k', dtypeOf(k.storage), this.dtype);
    if (k.shape[0] !== this.batch) throw errors.mismatch('k', "shape[0] (B, the cache's batch)", this.batch, k.shape[0]);
    if (k.shape[1] !== this.kvHeads) throw errors.mismatch('k', "shape[1] (Hkv, the cache's kvHeads)", this.kvHeads, k.shape[1]);
    if (k.shape[3] !== this.headDim) throw errors.mismatch('k', "shape[3] (D, the cache's headDim)", this.headDim, k.shape[3]);
    const n = k.shape[2];
    const v = checkOperand('v', tokens.v, '[B, Hkv, n, D]', this.owner, half);
    if (dtypeOf(v.storage) !== this.dtype) throw errors.kvDtypesDiffer('v', dtypeOf(v.storage), this.dtype);
    for (let i = 0; i < 4; i++) if (v.shape[i] !== k.shape[i]) throw errors.kvShapesDiffer(i, ['B', 'Hkv', 'n', 'D'][i], k.shape[i], v.shape[i]);
    const at = this.held + this.pending;
    if (at + n > this.capacity) throw errors.appendPastCapacity(at, n, this.capacity);
    const resets = this.resets;
    this.pending += n;
    try {
      // the backend orders the write before every call made after this one (and before the
      // writes of appends after a reset, which overwrite it)
      await this.data.write(k.data, v.data, at, n);
      if (resets === this.resets) this.held += n;
    } finally {
      if (resets === this.resets) this.pending -= n;
    }
  }

  reset(): void {
    if (this.destroyed) throw errors.destroyedKvCache();
    this.held = 0;
    this.pending = 0;
    this.resets++;
  }

  destroy(): void {
    if (this.data.destroyed) return;
    this.data.destroy();
    this.onDestroy(this);
  }
}

export function isKvCache(x: unknown): x is KvCacheHandle {
  return typeof x === 'object' && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
}
