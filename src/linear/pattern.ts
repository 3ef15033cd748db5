// Which blocks of an [outFeatures, inFeatures] weight a BlockSparseLinear keeps: a seeded random
// pattern, or the blocks of largest norm of a dense weight. Both keep at least one block in every
// block row, so that no output feature is cut off from the input.
import type { Layout } from '../types.js';
import { compileLayout } from '../layouts/compile.js';
import type { Sfc32 } from './random.js';

/** How many of `total` blocks a density keeps: round(density · total), at least one per block row. */
export function keptBlockCount(density: number, rows: number, total: number): number {
  return Math.min(total, Math.max(rows, Math.round(density * total)));
}

/**
 * A random layout [1, R, C] keeping `k` blocks: one uniform column per block row (rows in order),
 * then k − R more drawn uniformly, without replacement, from the positions r·C + c not yet kept.
 */
export function randomPattern(R: number, C: number, k: number, block: number, rng: Sfc32): Layout {
  const data = new Uint8Array(R * C);
  for (let r = 0; r < R; r++) data[r * C + rng.below(C)] = 1;
  const extra = k - R;
  if (extra > 0) {
    // a typed array: the free positions of a large layer are more than a JavaScript array holds
    const rest = new Int32Array(R * C - R);
    for (let i = 0, n = 0; i < R * C; i++) if (data[i] === 0) rest[n++] = i;
    for (const i of rng.sample(rest, extra)) data[i] = 1;
  }
  return { block, shape: [1, R, C], data };
}

/** Σ w² of each block of a dense [R·block, C·block] matrix, in float64; index r·C + c. */
export function blockSquaredNorms(w: Float32Array, R: number, C: number, block: number): Float64Array {
  const cols = C * block;
  const norms = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < block; i++) {
      const row = (r * block + i) * cols;
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let j = c * block, end = j + block; j < end; j++) s += w[row + j] * w[row + j];
        norms[r * C + c] += s;
      }
    }
  }
  return norms;
}

/**
 * The `k` blocks of largest norm, at least one per block row: first each row's largest block
 * (the lowest column on a tie), then the rest by norm, larger first, the lower index r·C + c
 * first on a tie, so the choice never depends on the sort's stability.
 */
export function topNormPattern(norms: Float64Array, R: number, C: number, k: number, block: number): Layout {
  const data = new Uint8Array(R * C);
  for (let r = 0; r < R; r++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (norms[r * C + c] > norms[r * C + best]) best = c;
    data[r * C + best] = 1;
  }
  const extra = k - R;
  if (extra > 0) {
    const rest: number[] = [];
    for (let i = 0; i < R * C; i++) if (data[i] === 0) rest.push(i);
    rest.sort((a, b) => norms[b] - norms[a] || a - b);
    for (let t = 0; t < extra; t++) data[rest[t]] = 1;
  }
  return { block, shape: [1, R, C], data };
}

/** The kept blocks of a dense [R·block, C·block] matrix in the layout's order, as [nnz, block, block]. */
export function gatherBlocks(w: Float32Array, layout: Layout): Float32Array {
  const [, R, C] = layout.shape;
  const block = layout.block;
  const cols = C * block;
  const out = new Float32Array(compileLayout(layout).nnz * block * block);
  let o = 0;
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      if (layout.data[r * C + c] === 0) continue;
      for (let i = 0; i < block; i++) {
        const from = (r * block + i) * cols + c * block;
        out.set(w.subarray(from, from + block), o);
        o += block;
      }
    }
  }
  return out;
}

/** The dense [R·block, C·block] matrix of blocks stored in the layout's order, zeros elsewhere. */
export function scatterBlocks(blocks: Float32Array, layout: Layout): Float32Array {
  const [, R, C] = layout.shape;
  const block = layout.block;
  const cols = C * block;
  const out = new Float32Array(R * block * cols);
  let o = 0;
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      if (layout.data[r * C + c] === 0) continue;
      for (let i = 0; i < block; i++) {
        out.set(blocks.subarray(o, o + block), (r * block + i) * cols + c * block);
        o += block;
      }
    }
  }
  return out;
}
