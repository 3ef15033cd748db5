// blocksparse: block-sparse attention for every JavaScript runtime. The public surface of
// docs/API.md, and nothing of the internals.
export { createEngine } from './engine.js';
export type { AttentionCall, CallTimings, Engine, EngineInfo, EngineOptions } from './engine.js';
export type * from './types.js';
export { compileCheckedLayout as compileLayout } from './validate.js';
export type { CompiledLayout } from './layouts/compile.js';
export {
  SparsityConfig, DenseSparsityConfig, FixedSparsityConfig, VariableSparsityConfig, BigBirdSparsityConfig,
  BSLongformerSparsityConfig, LocalSlidingWindowSparsityConfig, StridedSparsityConfig, Phi3SmallSparsityConfig,
  layoutFromMask, layoutFromCsr, layoutToCsr, describeLayout, layoutToString, layoutToSVG,
} from './layouts/index.js';
export type * from './layouts/index.js';
export { BlockSparseLinear } from './linear/index.js';
export { SparseSelfAttention } from './sparse-self-attention.js';
export type { SparseSelfAttentionInputs, SparseSelfAttentionOptions } from './sparse-self-attention.js';
export type { BlockSparseLinearOptions, BlockSparseLinearFromDenseOptions, BlockSparseLinearGradients, BlockSparseLinearParameters } from './linear/index.js';
export { toFloat16, fromFloat16 } from './float16.js';
