// A layout from a predicate, for patterns no config covers: layoutFromMask(H, nb, (h, r, c) => keep).
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { positiveInt } from './args.js';
import { zeroLayout } from './base.js';

/** Called once per cell, heads then rows then columns; a truthy result keeps block (r, c) of head h. */
export type BlockMaskFn = (head: number, row: number, col: number) => boolean;

/**
 * Builds a square layout of `numHeads × numBlocks × numBlocks` from `keep(h, r, c)`.
 * @param block the block size recorded in the layout; default 16, as DeepSpeed's configs.
 */
export function layoutFromMask(numHeads: number, numBlocks: number, keep: BlockMaskFn, block = 16): Layout {
  positiveInt('numHeads', numHeads);
  positiveInt('numBlocks', numBlocks);
  if (typeof keep !== 'function') throw errors.notMaskFn(keep);
  positiveInt('block', block);
  const layout = zeroLayout(numHeads, numBlocks, block);
  let i = 0;
  for (let h = 0; h < numHeads; h++) {
    for (let r = 0; r < numBlocks; r++) {
      for (let c = 0; c < numBlocks; c++, i++) if (keep(h, r, c)) layout.data[i] = 1;
    }
  }
  return layout;
}
