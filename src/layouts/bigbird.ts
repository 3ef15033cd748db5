// DeepSpeed's BigBirdSparsityConfig (Zaheer et al. 2020): random blocks, a sliding window and the
// first numGlobalBlocks rows and columns global. Ported line by line, quirks included:
// - per head the order is random, then window, then global, then (unidirectional) torch.tril;
// - unidirectional random blocks are sampled from row r's causal blocks only, `range(0, r + 1)`,
//   so Python's random.sample fails on row 0 for numRandomBlocks > 1: DeepSpeed cannot build a
//   unidirectional BigBird layout with more than one random block per row, and neither do we;
// - a window of even size n covers n + 1 blocks (w = n // 2 on each side).
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { attention, nonNegativeInt, seedArg, type Attention } from './args.js';
import { fill, set, span, SparsityConfig, trilHead, type SparsityConfigOptions } from './base.js';
import { PythonRandom, type PythonSeed } from './random.js';
import { slidingWindow } from './sliding-window.js';

export interface BigBirdSparsityConfigOptions extends SparsityConfigOptions {
  /** Random blocks per block row. Default 1. */
  numRandomBlocks?: number;
  /** Blocks in the sliding window (w = floor(n / 2) on each side). Default 3. */
  numSlidingWindowBlocks?: number;
  /** The first numGlobalBlocks blocks are global (rows and columns). Default 1. */
  numGlobalBlocks?: number;
  /** Default 'bidirectional'. */
  attention?: Attention;
  /** Seed of the random blocks, as Python's `random.seed(seed)` before `make_layout`. Default 0. */
  seed?: PythonSeed;
}

const KNOWN = [
  'numHeads', 'block', 'differentLayoutPerHead', 'numRandomBlocks', 'numSlidingWindowBlocks', 'numGlobalBlocks',
  'attention', 'seed',
] as const;

export class BigBirdSparsityConfig extends SparsityConfig {
  readonly kind = 'BigBirdSparsityConfig';
  readonly numRandomBlocks: number;
  readonly numSlidingWindowBlocks: number;
  readonly numGlobalBlocks: number;
  readonly attention: Attention;
  readonly seed: PythonSeed;

  constructor(options: BigBirdSparsityConfigOptions) {
    super(options, 'BigBirdSparsityConfig', KNOWN);
    this.numRandomBlocks = nonNegativeInt('numRandomBlocks', options.numRandomBlocks ?? 1);
    this.numSlidingWindowBlocks = nonNegativeInt('numSlidingWindowBlocks', options.numSlidingWindowBlocks ?? 3);
    this.numGlobalBlocks = nonNegativeInt('numGlobalBlocks', options.numGlobalBlocks ?? 1);
    this.attention = attention('attention', options.attention ?? 'bidirectional');
    this.seed = seedArg('seed', options.seed ?? 0);
  }

  /** `set_random_layout`: numRandomBlocks columns per row, from the whole row or (unidirectional) its causal part. */
  protected setRandomLayout(h: number, layout: Layout, rng: PythonRandom): void {
    const nb = layout.shape[1];
    const k = this.numRandomBlocks;
    if (nb < k) throw errors.exceedsRow('numRandomBlocks', k, nb);
    for (let row = 0; row < nb; row++) {
      const population = this.attention === 'bidirectional' ? nb : row + 1;
      if (k > population) {
        // Python: ValueError("Sample larger than population or is negative"), raised on row 0
        throw errors.causalSample(k, row, population);
      }
      for (const col of rng.sample(population, k)) set(layout, h, row, col);
    }
  }

  /** `set_global_layout_itc`: the first numGlobalBlocks rows and columns, then tril when unidirectional. */
  protected setGlobalLayoutItc(h: number, layout: Layout): void {
    const nb = layout.shape[1];
    const G = this.numGlobalBlocks;
    if (nb < G) throw errors.exceedsRow('numGlobalBlocks', G, nb);
    const all = span(undefined, undefined, nb);
    fill(layout, h, [0, G], all); // global rows
    fill(layout, h, all, [0, G]); // global columns
    // DeepSpeed trils the whole tensor; heads before h are already lower-triangular and heads after it still zero.
    if (this.attention === 'unidirectional') trilHead(layout, h);
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    const rng = new PythonRandom(this.seed); // fresh per call: random.seed(seed) before make_layout
    for (let h = 0; h < this.numLayoutHeads; h++) {
      this.setRandomLayout(h, layout, rng);
      slidingWindow(layout, h, this.numSlidingWindowBlocks, true);
      this.setGlobalLayoutItc(h, layout);
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}
