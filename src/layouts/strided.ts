// The strided pattern of the Sparse Transformer (Child et al. 2019, "Generating Long Sequences with
// Sparse Transformers", section 4.2), at block granularity. Not in DeepSpeed; its "fixed" pattern
// is FixedSparsityConfig. Block row r keeps
//   A1 (local):   the previous localWindowBlocks blocks, itself included: r - c in [0, localWindowBlocks)
//   A2 (strided): every block c with (r - c) % stride == 0 and c <= r
// and with bidirectional attention the symmetric version (|r - c| in place of r - c). The paper
// uses stride = window ≈ sqrt(n); the defaults are 4 and 4 (so every fourth block back, plus the
// last four), which suits the short sequences DeepSpeed's block 16 usually meets.
import type { Layout } from '../types.js';
import { attention, positiveInt, type Attention } from './args.js';
import { SparsityConfig, type SparsityConfigOptions } from './base.js';

export interface StridedSparsityConfigOptions extends SparsityConfigOptions {
  /** Blocks of the local window, the row's own block included. Default 4. */
  localWindowBlocks?: number;
  /** Block distance between strided blocks. Default localWindowBlocks. */
  stride?: number;
  /** Default 'unidirectional' (the Sparse Transformer is autoregressive). */
  attention?: Attention;
  /**
   * Split the two factorized components across heads as the paper's multi-head variant does:
   * even heads keep the local window A1, odd heads the strided blocks A2 (the diagonal stays in
   * both). Default false: every head keeps A1 ∪ A2 (the "merged" variant).
   */
  differentLayoutPerHead?: boolean;
}

const KNOWN = ['numHeads', 'block', 'differentLayoutPerHead', 'localWindowBlocks', 'stride', 'attention'] as const;

export class StridedSparsityConfig extends SparsityConfig {
  readonly kind = 'StridedSparsityConfig';
  readonly localWindowBlocks: number;
  readonly stride: number;
  readonly attention: Attention;

  constructor(options: StridedSparsityConfigOptions) {
    super(options, 'StridedSparsityConfig', KNOWN);
    this.localWindowBlocks = positiveInt('localWindowBlocks', options.localWindowBlocks ?? 4);
    this.stride = positiveInt('stride', options.stride ?? this.localWindowBlocks);
    this.attention = attention('attention', options.attention ?? 'unidirectional');
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    const nb = layout.shape[1];
    const uni = this.attention === 'unidirectional';
    for (let h = 0; h < this.numLayoutHeads; h++) {
      const local = !this.differentLayoutPerHead || h % 2 === 0;
      const strided = !this.differentLayoutPerHead || h % 2 === 1;
      for (let r = 0; r < nb; r++) {
        const base = (h * nb + r) * nb;
        for (let c = 0; c < (uni ? r + 1 : nb); c++) {
          const d = Math.abs(r - c);
          if ((local && d < this.localWindowBlocks) || (strided && d % this.stride === 0)) layout.data[base + c] = 1;
        }
      }
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}
