// The layouts the bench knows by name, with the parameters it builds them with. DeepSpeed's defaults
// unless a line says why not; one layout for every head (differentLayoutPerHead: false) so the
// density is the same in every head and the figures compare across layouts.
import {
  BigBirdSparsityConfig, BSLongformerSparsityConfig, DenseSparsityConfig, FixedSparsityConfig,
  LocalSlidingWindowSparsityConfig, StridedSparsityConfig, VariableSparsityConfig, type SparsityConfig,
} from '../src/layouts/index.js';

export const LAYOUT_NAMES = ['fixed', 'bigbird', 'longformer', 'sliding', 'strided', 'variable', 'dense'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/** `npm start` runs these (variable is on request: its default is a local window plus one global block, like longformer). */
export const DEFAULT_LAYOUTS: LayoutName[] = ['fixed', 'bigbird', 'longformer', 'sliding', 'strided', 'dense'];

export interface LayoutSpec {
  name: LayoutName;
  /** The DeepSpeed (or our) class. */
  className: string;
  /** One line for tables and the report. */
  summary: string;
  /** The config for H heads, block size `block`, sequence length N (strided scales with N). */
  config(H: number, block: number, N: number): SparsityConfig;
}

/** The Sparse Transformer's choice for the strided pattern: stride = local window = √(blocks per row), so kept blocks grow as n√n. */
export function stridedStride(N: number, block: number): number {
  return Math.max(1, Math.round(Math.sqrt(N / block)));
}

export const LAYOUTS: Record<LayoutName, LayoutSpec> = {
  fixed: {
    name: 'fixed',
    className: 'FixedSparsityConfig',
    // Unidirectional: the Sparse Transformer's fixed pattern is autoregressive (GPT-3's sparse layers).
    summary: 'local windows of 4 blocks + the last block of each window global, unidirectional',
    config: (numHeads, block) =>
      new FixedSparsityConfig({ numHeads, block, numLocalBlocks: 4, numGlobalBlocks: 1, attention: 'unidirectional' }),
  },
  bigbird: {
    name: 'bigbird',
    className: 'BigBirdSparsityConfig',
    summary: '1 random + sliding window of 3 + 1 global block, bidirectional (DeepSpeed defaults)',
    config: (numHeads, block) =>
      new BigBirdSparsityConfig({ numHeads, block, numRandomBlocks: 1, numSlidingWindowBlocks: 3, numGlobalBlocks: 1, attention: 'bidirectional' }),
  },
  longformer: {
    name: 'longformer',
    className: 'BSLongformerSparsityConfig',
    summary: 'sliding window of 3 + global block 0, bidirectional (DeepSpeed defaults)',
    config: (numHeads, block) =>
      new BSLongformerSparsityConfig({ numHeads, block, numSlidingWindowBlocks: 3, globalBlockIndices: [0], attention: 'bidirectional' }),
  },
  sliding: {
    name: 'sliding',
    className: 'LocalSlidingWindowSparsityConfig',
    // 5 rather than DeepSpeed's 3: unidirectional keeps the left half, so each row sees itself and 2 blocks back.
    summary: 'sliding window of 5 (itself + 2 blocks back), unidirectional',
    config: (numHeads, block) =>
      new LocalSlidingWindowSparsityConfig({ numHeads, block, numSlidingWindowBlocks: 5, attention: 'unidirectional' }),
  },
  strided: {
    name: 'strided',
    className: 'StridedSparsityConfig',
    summary: 'Sparse Transformer strided: local window = stride = √(N/block) blocks, unidirectional',
    config: (numHeads, block, N) => {
      const s = stridedStride(N, block);
      return new StridedSparsityConfig({ numHeads, block, localWindowBlocks: s, stride: s, attention: 'unidirectional' });
    },
  },
  variable: {
    name: 'variable',
    className: 'VariableSparsityConfig',
    summary: 'local windows of 4 + global block 0, bidirectional (DeepSpeed defaults)',
    config: (numHeads, block) => new VariableSparsityConfig({ numHeads, block }),
  },
  dense: {
    name: 'dense',
    className: 'DenseSparsityConfig',
    summary: 'every block (the dense baseline through the same kernels)',
    config: (numHeads, block) => new DenseSparsityConfig({ numHeads, block }),
  },
};
