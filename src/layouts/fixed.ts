// DeepSpeed's FixedSparsityConfig (the "fixed" pattern of Child et al. 2019, customised): local
// windows of numLocalBlocks blocks, and the last numGlobalBlocks of each window (another slot per
// head with numDifferentGlobalPatterns) attended by every row. Ported line by line from
// deepspeed/ops/sparse_attention/sparsity_config.py, quirks included:
// - the last, short window: its global blocks are `min(end + firstGlobal, nb - numGlobalBlocks)`
//   onwards, so a short tail still gets a full set of global blocks, pulled back from the end;
// - unidirectional global blocks start at their own row (`layout[h, i:, i:i+G]`), so with
//   numGlobalBlocks > 1 a few blocks sit just above the diagonal, as in DeepSpeed.
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { attention, bool, positiveInt, type Attention } from './args.js';
import { fill, set, span, SparsityConfig, type SparsityConfigOptions } from './base.js';

export interface FixedSparsityConfigOptions extends SparsityConfigOptions {
  /** Blocks in a local window. Default 4. */
  numLocalBlocks?: number;
  /** Consecutive blocks of a window that represent it globally. Default 1. */
  numGlobalBlocks?: number;
  /** Default 'bidirectional'. */
  attention?: Attention;
  /** Global blocks also attend to every block (bidirectional only). Default false. */
  horizontalGlobalAttention?: boolean;
  /** How many heads' worth of different global slots (needs differentLayoutPerHead). Default 1. */
  numDifferentGlobalPatterns?: number;
}

const KNOWN = [
  'numHeads', 'block', 'differentLayoutPerHead', 'numLocalBlocks', 'numGlobalBlocks', 'attention',
  'horizontalGlobalAttention', 'numDifferentGlobalPatterns',
] as const;

export class FixedSparsityConfig extends SparsityConfig {
  readonly kind = 'FixedSparsityConfig';
  readonly numLocalBlocks: number;
  readonly numGlobalBlocks: number;
  readonly attention: Attention;
  readonly horizontalGlobalAttention: boolean;
  readonly numDifferentGlobalPatterns: number;

  constructor(options: FixedSparsityConfigOptions) {
    super(options, 'FixedSparsityConfig', KNOWN);
    const L = positiveInt('numLocalBlocks', options.numLocalBlocks ?? 4);
    const G = positiveInt('numGlobalBlocks', options.numGlobalBlocks ?? 1);
    const att = attention('attention', options.attention ?? 'bidirectional');
    const horizontal = bool('horizontalGlobalAttention', options.horizontalGlobalAttention ?? false);
    const P = positiveInt('numDifferentGlobalPatterns', options.numDifferentGlobalPatterns ?? 1);

    // DeepSpeed's checks, in its order.
    if (L % G !== 0) throw errors.localDividesGlobal(L, G);
    if (att !== 'bidirectional' && horizontal) throw errors.horizontalNeedsBidirectional(att);
    if (P > 1 && !this.differentLayoutPerHead) throw errors.patternsNeedPerHead(P);
    if (P > Math.floor(L / G)) throw errors.tooManyPatterns(P, L, G);
    this.numLocalBlocks = L;
    this.numGlobalBlocks = G;
    this.attention = att;
    this.horizontalGlobalAttention = horizontal;
    this.numDifferentGlobalPatterns = P;
  }

  /** `set_local_layout`: consecutive windows of numLocalBlocks; the last one may be short. */
  protected setLocalLayout(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const L = this.numLocalBlocks;
    for (let i = 0; i < nb; i += L) {
      const end = Math.min(i + L, nb);
      for (let row = i; row < end; row++) {
        const colEnd = this.attention === 'unidirectional' ? row + 1 : end;
        for (let col = i; col < colEnd; col++) set(layout, h, row, col);
      }
    }
  }

  /**
   * `set_global_layout`: global slots counted from the end of each window (head h takes slot
   * h % numDifferentGlobalPatterns), every full window first, then the short last window.
   */
  protected setGlobalLayout(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const L = this.numLocalBlocks;
    const G = this.numGlobalBlocks;
    const all = span(undefined, undefined, nb);
    const firstGlobalBlockIdx = L - (1 + (h % this.numDifferentGlobalPatterns)) * G;

    // every global block except those of a short last window
    let end = nb - (nb % L);
    for (let i = firstGlobalBlockIdx; i < end; i += L) {
      const firstRow = this.attention === 'bidirectional' ? 0 : i;
      fill(layout, h, span(firstRow, undefined, nb), span(i, i + G, nb)); // vertical
      if (this.horizontalGlobalAttention) fill(layout, h, span(i, i + G, nb), all);
    }

    // the short last window, if any: a full set of global blocks, pulled back to fit
    if (end < nb) {
      const start = Math.min(end + firstGlobalBlockIdx, nb - G); // may be negative: a Python slice bound
      end = start + G;
      const firstRow = this.attention === 'bidirectional' ? 0 : start;
      fill(layout, h, span(firstRow, undefined, nb), span(start, end, nb));
      if (this.horizontalGlobalAttention) fill(layout, h, span(start, end, nb), all);
    }
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    for (let h = 0; h < this.numLayoutHeads; h++) {
      this.setLocalLayout(h, layout);
      this.setGlobalLayout(h, layout);
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}
