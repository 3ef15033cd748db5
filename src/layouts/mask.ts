// A layout from a predicate, for patterns no config covers: layoutFromMask(H, nb, (h, r, c) => keep),
// square (nb) or rectangular ([rows, cols], for queries against a longer key sequence).
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { blockSide, positiveInt } from './args.js';
import { zeroLayout } from './base.js';

/** Called once per cell, heads then rows then columns; a truthy result keeps block (r, c) of head h. */
export type BlockMaskFn = (head: number, row: number, col: number) => boolean;

/**
 * Builds a `numHeads × rows × cols` layout from `keep(h, r, c)`: square (`rows = cols = numBlocks`)
 * when `numBlocks` is a number, rectangular when it is `[rows, cols]`.
 * @param block the block size recorded in the layout; default 16, as DeepSpeed's configs.
 */
export function layoutFromMask(numHeads: number, numBlocks: number | readonly [number, number], keep: BlockMaskFn, block = 16): Layout {
  positiveInt('numHeads', numHeads);
  const [rows, cols] = blockCounts(numBlocks);
  if (typeof keep !== 'function') throw errors.notMaskFn(keep);
  blockSide('block', block);
  const layout = zeroLayout(numHeads, rows, block, cols);
  let i = 0;
  for (let h = 0; h < numHeads; h++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++, i++) if (keep(h, r, c)) layout.data[i] = 1;
    }
  }
  return layout;
}

/** `numBlocks` as [rows, cols]: a positive integer n (square, n × n) or a pair of them. */
function blockCounts(numBlocks: unknown): [number, number] {
  if (Array.isArray(numBlocks)) {
    if (numBlocks.length !== 2) {
      throw errors.notBlockCounts(numBlocks);
    }
    return [positiveInt('numBlocks[0]', numBlocks[0]), positiveInt('numBlocks[1]', numBlocks[1])];
  }
  const n = positiveInt('numBlocks', numBlocks);
  return [n, n];
}
