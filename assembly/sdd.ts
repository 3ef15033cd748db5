// sdd: dense op(A) × dense op(B) → the kept blocks of C (DeepSpeed's MatMul 'sdd'), from operands
// packed by `matmulPack`: op(A) by blocks of rows into 4-row panels, op(B) by blocks of columns
// into 8-column panels. A task owns whole block rows (batch-head, r) of C, so it writes only its
// rows' blocks.
import { gemmPanels } from './gemm';

/**
 * Computes C blocks for the items t = bh·R + r in [begin, end), bh = b·H + h.
 * - aPacked: op(A) [M × K] per bh, packed with groups = R, G = block, W = 4
 * - bPacked: op(B)ᵀ [N × K] per bh, packed with groups = C, G = block, W = 8
 * - c: output [B, nnz, block, block]; kvPtr / kvIndices: the layout's row tables
 * - kc: the k chunk (cache blocking); tmp: 128 bytes of scratch owned by this task
 */
export function sdd(
  aPacked: usize, bPacked: usize, c: usize, kvPtr: usize, kvIndices: usize,
  H: i32, R: i32, C: i32, nnz: i32, blk: i32, K: i32, kc: i32, begin: i32, end: i32, tmp: usize,
): void {
  const ppa = (blk + 3) >> 2;
  const ppb = (blk + 7) >> 3;
  const paStride = <usize>K << 4; // bytes between A panels
  const pbStride = <usize>K << 5;
  const aGroup = <usize>ppa * paStride;
  const bGroup = <usize>ppb * pbStride;
  const blockBytes = <usize>blk * <usize>blk << 2;
  for (let t = begin; t < end; t++) {
    const bh = t / R;
    const r = t - bh * R;
    const b = bh / H;
    const h = bh - b * H;
    const row = h * R + r;
    const e0 = load<i32>(kvPtr + (<usize>row << 2));
    const e1 = load<i32>(kvPtr + (<usize>row << 2), 4);
    if (e0 == e1) continue;
    const pa = aPacked + (<usize>bh * <usize>R + <usize>r) * aGroup;
    const pbHead = bPacked + <usize>bh * <usize>C * bGroup;
    const cBatch = c + <usize>b * <usize>nnz * blockBytes;
    for (let k0 = 0; k0 < K; k0 += kc) {
      const kk = min(kc, K - k0);
      const aOff = pa + (<usize>k0 << 4);
      for (let e = e0; e < e1; e++) {
        const col = load<i32>(kvIndices + (<usize>e << 2));
        gemmPanels(
          aOff, paStride, pbHead + <usize>col * bGroup + (<usize>k0 << 5), pbStride, kk, blk, blk,
          cBatch + <usize>e * blockBytes, blk, k0 > 0, tmp, false,
        );
      }
    }
  }
}
