// Float64 reference of a key cache's per-block summaries (API.md "Content-based layouts",
// createKvCache's summaryBlock): per (b, kv head g) and key block c of `block` positions, the
// elementwise mean, min and max of its valid keys j (c·block ≤ j < min((c + 1)·block, keyLength(b)));
// zeros for a block holding none. selectBlocks' pooled keys (mean) and bound scores (min, max) read them.
import type { RefTensor } from './types.js';

export interface RefKeySummaries {
  /** Each [B, Hkv, C, D], C = ceil(Nk / block). */
  mean: Float64Array;
  min: Float64Array;
  max: Float64Array;
  /** Valid keys per block [B, Hkv, C] (the same for every head of a batch row). */
  count: Int32Array;
  shape: [number, number, number, number];
}

/** k [B, Hkv, Nk, D]; keyLengths [B] (default Nk each). */
export function referenceKeySummaries(k: RefTensor, block: number, keyLengths?: ArrayLike<number>): RefKeySummaries {
  const [B, Hkv, Nk, D] = k.shape;
  const C = Math.ceil(Nk / block);
  const size = B * Hkv * C * D;
  const mean = new Float64Array(size);
  const min = new Float64Array(size);
  const max = new Float64Array(size);
  const count = new Int32Array(B * Hkv * C);
  for (let b = 0; b < B; b++) {
    const kl = keyLengths ? keyLengths[b] : Nk;
    for (let g = 0; g < Hkv; g++) {
      const row = (b * Hkv + g) * Nk;
      for (let c = 0; c < C; c++) {
        const at = ((b * Hkv + g) * C + c) * D;
        const end = Math.min((c + 1) * block, kl);
        const n = Math.max(end - c * block, 0);
        count[(b * Hkv + g) * C + c] = n;
        if (n === 0) continue;
        for (let d = 0; d < D; d++) {
          let sum = 0, lo = Infinity, hi = -Infinity;
          for (let j = c * block; j < end; j++) {
            const x = k.data[(row + j) * D + d];
            sum += x;
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
          }
          mean[at + d] = sum / n;
          min[at + d] = lo;
          max[at + d] = hi;
        }
      }
    }
  }
  return { mean, min, max, count, shape: [B, Hkv, C, D] };
}
