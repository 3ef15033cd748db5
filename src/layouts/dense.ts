// DeepSpeed's DenseSparsityConfig: every block kept. Not sparse; kept for comparison and testing.
import type { Layout } from '../types.js';
import { SparsityConfig, type SparsityConfigOptions } from './base.js';

export type DenseSparsityConfigOptions = SparsityConfigOptions;

const KNOWN = ['numHeads', 'block', 'differentLayoutPerHead'] as const;

/** Full attention as a layout. `differentLayoutPerHead` is accepted, as in DeepSpeed, and has no effect. */
export class DenseSparsityConfig extends SparsityConfig {
  readonly kind = 'DenseSparsityConfig';

  constructor(options: DenseSparsityConfigOptions) {
    super(options, 'DenseSparsityConfig', KNOWN);
  }

  makeLayout(seqLen: number): Layout {
    const layout = this.setupLayout(seqLen);
    layout.data.fill(1);
    return layout;
  }
}
