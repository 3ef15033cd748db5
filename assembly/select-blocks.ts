// engine.selectBlocks on the CPU (src/cpu/select-blocks.ts): pool the blocks, then score and cut
// each block row.
export { poolBlocks } from './block-pooling';
export { selectBlockRows } from './block-selection';
