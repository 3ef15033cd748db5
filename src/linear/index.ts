// BlockSparseLinear (pytorch_block_sparse's layer) on the engine's matmul ops.
export { BlockSparseLinear } from './linear.js';
export type { BlockSparseLinearGradients, BlockSparseLinearOptions, BlockSparseLinearParameters, BlockSparseLinearFromDenseOptions } from './linear.js';
