// DeepSpeed's LocalSlidingWindowSparsityConfig: a purely local sliding window. The window is
// `numSlidingWindowBlocks // 2` blocks on each side (so an even size rounds up to the next odd one);
// unidirectional (the default here, unlike the other configs) keeps only the left half and itself.
// `slidingWindow` is shared with BigBird and BSLongformer, whose windows are always symmetric.
import { errors } from '../errors.js';
import type { Layout } from '../types.js';
import { attention, nonNegativeInt, type Attention } from './args.js';
import { fill, SparsityConfig } from './base.js';

export interface LocalSlidingWindowSparsityConfigOptions {
  numHeads: number;
  /** Default 16. */
  block?: number;
  /** Blocks in the sliding window (w = floor(n / 2) on each side). Default 3. */
  numSlidingWindowBlocks?: number;
  /** Default 'unidirectional' (DeepSpeed's default for this config). */
  attention?: Attention;
}

const KNOWN = ['numHeads', 'block', 'numSlidingWindowBlocks', 'attention'] as const;

export class LocalSlidingWindowSparsityConfig extends SparsityConfig {
  readonly kind = 'LocalSlidingWindowSparsityConfig';
  readonly numSlidingWindowBlocks: number;
  readonly attention: Attention;

  constructor(options: LocalSlidingWindowSparsityConfigOptions) {
    super(options, 'LocalSlidingWindowSparsityConfig', KNOWN); // one layout for all heads, as in DeepSpeed
    this.numSlidingWindowBlocks = nonNegativeInt('numSlidingWindowBlocks', options.numSlidingWindowBlocks ?? 3);
    // DeepSpeed checks nothing here and treats any string but 'bidirectional' as unidirectional.
    this.attention = attention('attention', options.attention ?? 'unidirectional');
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    for (let h = 0; h < this.numLayoutHeads; h++) {
      slidingWindow(layout, h, this.numSlidingWindowBlocks, this.attention === 'bidirectional');
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}

/** `set_sliding_window_layout`: rows keep [row - w, row + w] (or [row - w, row] when not symmetric). */
export function slidingWindow(layout: Layout, h: number, numSlidingWindowBlocks: number, symmetric: boolean): void {
  const nb = layout.shape[1];
  if (nb < numSlidingWindowBlocks) {
    throw errors.exceedsRow('numSlidingWindowBlocks', numSlidingWindowBlocks, nb);
  }
  const w = Math.floor(numSlidingWindowBlocks / 2);
  for (let row = 0; row < nb; row++) {
    const start = Math.max(0, row - w);
    const end = symmetric ? Math.min(row + w + 1, nb) : row + 1;
    fill(layout, h, [row, row + 1], [start, end]);
  }
}
