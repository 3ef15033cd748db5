// Input types of the references: the public types with `data` widened to any numeric array, so the
// references accept the f32 tensors of the API and also float64 data (for finite differences).
import type { AttnMaskMode, BatchedLayout, KeyPaddingMaskMode, Layout } from '../../src/types.js';

export type Numeric = ArrayLike<number>;

export interface RefTensor {
  data: Numeric;
  shape: readonly number[];
}

export interface RefBlockSparse {
  layout: Layout;
  data: Numeric;
  shape: readonly number[];
}

/** Score modifiers shared by attention and softmax (API.md: s = x·scale + rpe + kpm + am). */
export interface RefMaskArgs {
  causal?: boolean;
  rpe?: RefTensor;
  keyPaddingMask?: RefTensor;
  keyPaddingMaskMode?: KeyPaddingMaskMode;
  attnMask?: RefTensor;
  attnMaskMode?: AttnMaskMode;
}

export interface RefAttentionArgs extends RefMaskArgs {
  q: RefTensor;
  k: RefTensor;
  v: RefTensor;
  /** [Hl, R, C] or [B, Hl, R, C]. */
  layout: Layout | BatchedLayout;
  scale?: number;
  /** [B]: batch row b has keys 0 … keyLengths[b] − 1; the rest are masked. */
  keyLengths?: ArrayLike<number>;
  /** Absolute position of q's row 0, one number or one per batch row (API.md's default when absent). */
  qOffset?: number | ArrayLike<number>;
}

export interface RefAttentionBackwardArgs extends RefAttentionArgs {
  dout: RefTensor;
}

export interface RefSoftmaxArgs extends RefMaskArgs {
  x: RefBlockSparse;
  scale?: number;
}

export interface RefSoftmaxBackwardArgs {
  y: RefBlockSparse;
  dy: RefBlockSparse;
  scale?: number;
}

export type RefMatmulArgs =
  | { mode: 'sdd'; a: RefTensor; b: RefTensor; layout: Layout; transA?: boolean; transB?: boolean }
  | { mode: 'dsd'; a: RefBlockSparse; b: RefTensor; transA?: boolean; transB?: boolean }
  | { mode: 'dds'; a: RefTensor; b: RefBlockSparse; transA?: boolean; transB?: boolean };
