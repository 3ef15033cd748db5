// dds: dense op(A) × sparse op(B) → dense C (DeepSpeed's MatMul 'dds'). A task owns whole block
// columns (batch-head, output block column) of C, all M rows of them: for op(B) = B the
// transposed tables (qPtr / qIndices / qEntries) list the blocks of that layout column, for
// op(B) = Bᵀ the row tables list the blocks of the layout row that becomes the output column.
import { gemmPanels, packPanels, zeroRows } from './gemm';

/**
 * Computes the output block columns t = bh·Co + co in [begin, end).
 * - aPacked: op(A) [M × K] per bh, packed with groups = 1, W = 4; b: B blocks [B, nnz, block, block]
 * - c: output [B, H, M, Co·block]
 * - ptr / idx / ent: the tables walking the blocks of an output column (ent = 0: entry = position);
 *   idx gives the block's k-block index
 * - scratch: 128 bytes of tile scratch, then room for one packed block (ceil(block/8)·8·block floats)
 */
export function dds(
  aPacked: usize, b: usize, c: usize, ptr: usize, idx: usize, ent: usize,
  H: i32, Co: i32, nnz: i32, blk: i32, M: i32, K: i32, transB: bool, begin: i32, end: i32, scratch: usize,
): void {
  const N = Co * blk;
  const tmp = scratch;
  const pk = scratch + 128;
  const blockBytes = <usize>blk * <usize>blk << 2;
  const paStride = <usize>K << 4;
  const paHeadBytes = <usize>((M + 3) >> 2) * paStride;
  // the packed operand is op(B_e)ᵀ: X[j][k] = op(B_e)[k][j], which is B_e[k][j] or B_e[j][k]
  const pStride = transB ? blk : 1;
  const kStride = transB ? 1 : blk;
  const ppb = (blk + 7) >> 3;
  for (let t = begin; t < end; t++) {
    const bh = t / Co;
    const co = t - bh * Co;
    const bb = bh / H;
    const h = bh - bb * H;
    const cCol = c + ((<usize>bh * <usize>M * <usize>N + <usize>co * <usize>blk) << 2);
    const slot = (<usize>(h * Co + co)) << 2;
    const p0 = load<i32>(ptr + slot);
    const p1 = load<i32>(ptr + slot, 4);
    if (p0 == p1) {
      zeroRows(cCol, M, blk, N);
      continue;
    }
    const paHead = aPacked + <usize>bh * paHeadBytes;
    for (let p = p0; p < p1; p++) {
      const kb = load<i32>(idx + (<usize>p << 2));
      const e = ent != 0 ? load<i32>(ent + (<usize>p << 2)) : p;
      const src = b + (<usize>bb * <usize>nnz + <usize>e) * blockBytes;
      packPanels(src, pk, blk, blk, pStride, kStride, 8, 0, ppb);
      gemmPanels(
        paHead + (<usize>kb * <usize>blk << 4), paStride, pk, <usize>blk << 5, blk, M, blk,
        cCol, N, p > p0, tmp, true,
      );
    }
  }
}
