// The float64 references every kernel is tested against, and the test helpers.
export * from './types.js';
export * from './sparse.js';
export * from './scores.js';
export * from './attention.js';
export * from './softmax.js';
export * from './matmul.js';
export * from '../helpers/random.js';
export * from '../helpers/assert-close.js';
export * from './select-blocks.js';
export * from './key-summaries.js';
export * from './attention-mass.js';
