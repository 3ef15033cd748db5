// DeepSpeed's VariableSparsityConfig: random blocks, local windows of varying sizes, and global
// blocks given by index (or by index ranges). Ported line by line, quirks included:
// - random blocks are drawn from the whole row even for unidirectional attention, and nothing is
//   masked afterwards (DeepSpeed has no torch.tril here), so a unidirectional Variable layout with
//   numRandomBlocks > 0 has blocks above the diagonal;
// - unidirectional global columns start at their own row, so a global range wider than one block
//   (globalBlockEndIndices) reaches above the diagonal too;
// - after the listed windows, the last window size repeats until the end of the row;
// - a window list that overruns the row is clamped, later windows then being empty;
// - global indices at or past the end of the row are skipped; negative ones count from the end.
import { errors } from '../errors.js';
import type { Layout } from '../types.js';
import {
  attention, bool, checkGlobalRanges, intList, nonNegativeInt, seedArg, type Attention,
} from './args.js';
import { fill, pyIndex, set, span, SparsityConfig, type SparsityConfigOptions } from './base.js';
import { PythonRandom, type PythonSeed } from './random.js';

export interface VariableSparsityConfigOptions extends SparsityConfigOptions {
  /** Random blocks per block row. Default 0. */
  numRandomBlocks?: number;
  /** Sizes of the first local windows; the last size repeats. Default [4]. */
  localWindowBlocks?: number[];
  /** Global blocks (or starts of global ranges with globalBlockEndIndices). Default [0]. */
  globalBlockIndices?: number[];
  /** Exclusive ends of the global ranges, one per start. Default none. */
  globalBlockEndIndices?: number[] | null;
  /** Default 'bidirectional'. */
  attention?: Attention;
  /** Global blocks also attend to every block (bidirectional only). Default false. */
  horizontalGlobalAttention?: boolean;
  /** Seed of the random blocks, as Python's `random.seed(seed)` before `make_layout`. Default 0. */
  seed?: PythonSeed;
}

const KNOWN = [
  'numHeads', 'block', 'differentLayoutPerHead', 'numRandomBlocks', 'localWindowBlocks', 'globalBlockIndices',
  'globalBlockEndIndices', 'attention', 'horizontalGlobalAttention', 'seed',
] as const;

export class VariableSparsityConfig extends SparsityConfig {
  readonly kind = 'VariableSparsityConfig';
  readonly numRandomBlocks: number;
  readonly localWindowBlocks: readonly number[];
  readonly globalBlockIndices: readonly number[];
  readonly globalBlockEndIndices: readonly number[] | null;
  readonly attention: Attention;
  readonly horizontalGlobalAttention: boolean;
  readonly seed: PythonSeed;

  constructor(options: VariableSparsityConfigOptions) {
    super(options, 'VariableSparsityConfig', KNOWN);
    this.numRandomBlocks = nonNegativeInt('numRandomBlocks', options.numRandomBlocks ?? 0);
    const windows = intList('localWindowBlocks', options.localWindowBlocks ?? [4]);
    // DeepSpeed fails inside make_layout on these (UnboundLocalError, range() step 0); negative sizes are refused here.
    if (windows.length === 0) throw errors.noWindows();
    windows.forEach((w, i) => nonNegativeInt(`localWindowBlocks[${i}]`, w));
    if (windows[windows.length - 1] === 0) throw errors.lastWindowZero(windows);
    const starts = intList('globalBlockIndices', options.globalBlockIndices ?? [0]);
    const ends = options.globalBlockEndIndices == null ? null : intList('globalBlockEndIndices', options.globalBlockEndIndices);
    const att = attention('attention', options.attention ?? 'bidirectional');
    const horizontal = bool('horizontalGlobalAttention', options.horizontalGlobalAttention ?? false);
    this.seed = seedArg('seed', options.seed ?? 0);

    // DeepSpeed's checks, in its order.
    if (ends !== null) checkGlobalRanges(starts, ends);
    if (att !== 'bidirectional' && horizontal) throw errors.horizontalNeedsBidirectional(att);
    this.localWindowBlocks = windows;
    this.globalBlockIndices = starts;
    this.globalBlockEndIndices = ends;
    this.attention = att;
    this.horizontalGlobalAttention = horizontal;
  }

  /** `set_random_layout`: numRandomBlocks columns per row from `random.sample(range(nb), k)`. */
  protected setRandomLayout(h: number, layout: Layout, rng: PythonRandom): void {
    const nb = layout.shape[1];
    if (nb < this.numRandomBlocks) throw errors.exceedsRow('numRandomBlocks', this.numRandomBlocks, nb);
    for (let row = 0; row < nb; row++) {
      for (const col of rng.sample(nb, this.numRandomBlocks)) set(layout, h, row, col);
    }
  }

  /** `set_local_layout`: the listed windows, then the last size repeated. */
  protected setLocalLayout(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const uni = this.attention === 'unidirectional';
    let startBlockIdx = 0;
    let endBlockIdx = 0;
    let blockSize = 0;
    for (blockSize of this.localWindowBlocks) {
      endBlockIdx = Math.min(endBlockIdx + blockSize, nb);
      for (let row = startBlockIdx; row < endBlockIdx; row++) {
        for (let col = startBlockIdx; col < (uni ? row + 1 : endBlockIdx); col++) set(layout, h, row, col);
      }
      startBlockIdx += blockSize;
    }
    // whatever is left is covered by windows of the last size
    for (let i = startBlockIdx; i < nb; i += blockSize) {
      endBlockIdx = Math.min(i + blockSize, nb);
      for (let row = i; row < endBlockIdx; row++) {
        for (let col = i; col < (uni ? row + 1 : endBlockIdx); col++) set(layout, h, row, col);
      }
    }
  }

  /** `set_global_layout`: global columns (from their own row when unidirectional), rows only if horizontal. */
  protected setGlobalLayout(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const all = span(undefined, undefined, nb);
    const bi = this.attention === 'bidirectional';
    if (this.globalBlockEndIndices === null) {
      this.globalBlockIndices.forEach((idx, i) => {
        if (idx >= nb) return; // past the end of this sequence
        const col = pyIndex(idx, nb, `globalBlockIndices[${i}]`);
        if (this.horizontalGlobalAttention) fill(layout, h, [col, col + 1], all);
        fill(layout, h, span(bi ? 0 : idx, undefined, nb), [col, col + 1]);
      });
    } else {
      this.globalBlockIndices.forEach((startIdx, i) => {
        if (startIdx >= nb) return;
        const endIdx = Math.min(this.globalBlockEndIndices![i], nb);
        if (this.horizontalGlobalAttention) fill(layout, h, span(startIdx, endIdx, nb), all);
        fill(layout, h, span(bi ? 0 : startIdx, undefined, nb), span(startIdx, endIdx, nb));
      });
    }
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    const rng = new PythonRandom(this.seed); // fresh per call: random.seed(seed) before make_layout
    for (let h = 0; h < this.numLayoutHeads; h++) {
      this.setRandomLayout(h, layout, rng);
      this.setLocalLayout(h, layout);
      this.setGlobalLayout(h, layout);
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}
