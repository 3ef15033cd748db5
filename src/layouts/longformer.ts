// DeepSpeed's BSLongformerSparsityConfig: the block-sparse edit of Longformer (Beltagy et al. 2020),
// a symmetric sliding window plus global blocks (rows and columns) given by index or index range.
// Ported line by line: unidirectional applies torch.tril after the global blocks; global indices
// at or past the end of the row are skipped, negative ones count from the end (Python indexing).
import type { Layout } from '../types.js';
import { attention, checkGlobalRanges, intList, nonNegativeInt, type Attention } from './args.js';
import { fill, pyIndex, span, SparsityConfig, trilHead, type SparsityConfigOptions } from './base.js';
import { slidingWindow } from './sliding-window.js';

export interface BSLongformerSparsityConfigOptions extends SparsityConfigOptions {
  /** Blocks in the sliding window (w = floor(n / 2) on each side). Default 3. */
  numSlidingWindowBlocks?: number;
  /** Global blocks (or starts of global ranges with globalBlockEndIndices). Default [0]. */
  globalBlockIndices?: number[];
  /** Exclusive ends of the global ranges, one per start. Default none. */
  globalBlockEndIndices?: number[] | null;
  /** Default 'bidirectional'. */
  attention?: Attention;
}

const KNOWN = [
  'numHeads', 'block', 'differentLayoutPerHead', 'numSlidingWindowBlocks', 'globalBlockIndices',
  'globalBlockEndIndices', 'attention',
] as const;

export class BSLongformerSparsityConfig extends SparsityConfig {
  readonly kind = 'BSLongformerSparsityConfig';
  readonly numSlidingWindowBlocks: number;
  readonly globalBlockIndices: readonly number[];
  readonly globalBlockEndIndices: readonly number[] | null;
  readonly attention: Attention;

  constructor(options: BSLongformerSparsityConfigOptions) {
    super(options, 'BSLongformerSparsityConfig', KNOWN);
    this.numSlidingWindowBlocks = nonNegativeInt('numSlidingWindowBlocks', options.numSlidingWindowBlocks ?? 3);
    const starts = intList('globalBlockIndices', options.globalBlockIndices ?? [0]);
    const ends = options.globalBlockEndIndices == null ? null : intList('globalBlockEndIndices', options.globalBlockEndIndices);
    // DeepSpeed does not check attention here (any string but 'unidirectional' acts as bidirectional).
    this.attention = attention('attention', options.attention ?? 'bidirectional');
    if (ends !== null) checkGlobalRanges(starts, ends);
    this.globalBlockIndices = starts;
    this.globalBlockEndIndices = ends;
  }

  /** `set_global_layout`: global rows and columns, then tril when unidirectional. */
  protected setGlobalLayout(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const all = span(undefined, undefined, nb);
    if (this.globalBlockEndIndices === null) {
      this.globalBlockIndices.forEach((idx, i) => {
        if (idx >= nb) return; // past the end of this sequence
        const b = pyIndex(idx, nb, `globalBlockIndices[${i}]`);
        fill(layout, h, [b, b + 1], all); // global row
        fill(layout, h, all, [b, b + 1]); // global column
      });
    } else {
      this.globalBlockIndices.forEach((startIdx, i) => {
        if (startIdx >= nb) return;
        const range = span(startIdx, Math.min(this.globalBlockEndIndices![i], nb), nb);
        fill(layout, h, range, all);
        fill(layout, h, all, range);
      });
    }
    // DeepSpeed trils the whole tensor; heads before h are already lower-triangular and heads after it still zero.
    if (this.attention === 'unidirectional') trilHead(layout, h);
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    for (let h = 0; h < this.numLayoutHeads; h++) {
      slidingWindow(layout, h, this.numSlidingWindowBlocks, true);
      this.setGlobalLayout(h, layout);
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}
