// Summaries of a layout: counts for logs and tests, and a text drawing of one head.
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { checkLayout } from '../validate.js';
import { int } from './args.js';

export interface LayoutDescription {
  block: number;
  heads: number;
  blockRows: number;
  blockCols: number;
  /** Tokens along the rows: blockRows * block. */
  seqLen: number;
  /** Kept blocks over all heads. */
  nnz: number;
  /** nnz / (heads * blockRows * blockCols). */
  density: number;
  keptPerHead: number[];
  /** Block rows (over all heads) that keep no block: their tokens attend to nothing. */
  emptyRows: number;
}

export function describeLayout(layout: Layout): LayoutDescription {
  const { block, shape, data } = checkLayout('layout', layout);
  const [H, R, C] = shape;
  const keptPerHead = new Array<number>(H).fill(0);
  let emptyRows = 0;
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      let kept = 0;
      for (let i = (h * R + r) * C, end = i + C; i < end; i++) kept += data[i] !== 0 ? 1 : 0;
      keptPerHead[h] += kept;
      if (kept === 0) emptyRows++;
    }
  }
  const nnz = keptPerHead.reduce((a, b) => a + b, 0);
  return { block, heads: H, blockRows: R, blockCols: C, seqLen: R * block, nnz, density: nnz / (H * R * C), keptPerHead, emptyRows };
}

/** One head drawn with '█' (kept) and '·' (skipped), one line per block row. */
export function layoutToString(layout: Layout, head = 0): string {
  const { shape, data } = checkLayout('layout', layout);
  const [H, R, C] = shape;
  int('head', head);
  if (head < 0 || head >= H) throw errors.outOfRange('head', H - 1, head);
  const lines: string[] = [];
  for (let r = 0; r < R; r++) {
    let line = '';
    for (let i = (head * R + r) * C, end = i + C; i < end; i++) line += data[i] !== 0 ? '█' : '·';
    lines.push(line);
  }
  return lines.join('\n');
}
