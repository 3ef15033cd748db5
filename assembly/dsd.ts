// dsd: sparse op(A) × dense op(B) → dense C (DeepSpeed's MatMul 'dsd'). A task owns whole block
// rows (batch-head, output block row) of C: for op(A) = A the layout's row tables list that row's
// blocks, for op(A) = Aᵀ the transposed tables (qPtr / qIndices / qEntries) list the blocks of the
// layout column that becomes the output row. Each block is packed once, where it is used.
import { gemmPanels, packPanels, zeroRows } from './gemm';

/**
 * Computes the output block rows t = bh·Ro + ro in [begin, end).
 * - a: A blocks [B, nnz, block, block]; bPacked: op(B)ᵀ [N × K] per bh, packed with groups = 1, W = 8
 * - c: output [B, H, Ro·block, N]
 * - ptr / idx / ent: the tables walking the blocks of an output row (ent = 0: entry = position);
 *   idx gives the block's k-block index
 * - scratch: 128 bytes of tile scratch, then room for one packed block (ceil(block/4)·4·block floats)
 */
export function dsd(
  a: usize, bPacked: usize, c: usize, ptr: usize, idx: usize, ent: usize,
  H: i32, Ro: i32, nnz: i32, blk: i32, K: i32, N: i32, transA: bool, begin: i32, end: i32, scratch: usize,
): void {
  const M = Ro * blk;
  const tmp = scratch;
  const pk = scratch + 128;
  const blockBytes = <usize>blk * <usize>blk << 2;
  const pbStride = <usize>K << 5;
  const pbHeadBytes = <usize>((N + 7) >> 3) * pbStride;
  // op(A_e)[i][k] is A_e[i][k] or A_e[k][i]
  const pStride = transA ? 1 : blk;
  const kStride = transA ? blk : 1;
  const ppa = (blk + 3) >> 2;
  for (let t = begin; t < end; t++) {
    const bh = t / Ro;
    const ro = t - bh * Ro;
    const b = bh / H;
    const h = bh - b * H;
    const cRow = c + ((<usize>bh * <usize>M + <usize>ro * <usize>blk) * <usize>N << 2);
    const slot = (<usize>(h * Ro + ro)) << 2;
    const p0 = load<i32>(ptr + slot);
    const p1 = load<i32>(ptr + slot, 4);
    if (p0 == p1) {
      zeroRows(cRow, blk, N, N);
      continue;
    }
    const pbHead = bPacked + <usize>bh * pbHeadBytes;
    for (let p = p0; p < p1; p++) {
      const kb = load<i32>(idx + (<usize>p << 2));
      const e = ent != 0 ? load<i32>(ent + (<usize>p << 2)) : p;
      const src = a + (<usize>b * <usize>nnz + <usize>e) * blockBytes;
      packPanels(src, pk, blk, blk, pStride, kStride, 4, 0, ppa);
      gemmPanels(
        pk, <usize>blk << 4, pbHead + (<usize>kb * <usize>blk << 5), pbStride, blk, blk, N,
        cRow, N, p > p0, tmp, false,
      );
    }
  }
}
