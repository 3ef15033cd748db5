// Block-sparse <-> dense conversions in DeepSpeed's storage order: the kept blocks of the layout,
// (head, block row, block column) in row-major order, each block row-major.
import type { BlockSparseTensor, Layout } from '../../src/types.js';
import type { Numeric, RefBlockSparse } from './types.js';

export interface BlockIndex {
  h: number;
  r: number;
  c: number;
}

/** The layout's non-zero blocks in storage order. */
export function layoutNonZeros(layout: Layout): BlockIndex[] {
  const [H, R, C] = layout.shape;
  if (layout.data.length !== H * R * C) {
    throw new RangeError(`layout.data has ${layout.data.length} entries, expected ${H * R * C}`);
  }
  const out: BlockIndex[] = [];
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) if (layout.data[(h * R + r) * C + c]) out.push({ h, r, c });
    }
  }
  return out;
}

function gather<T extends Float32Array | Float64Array>(dense: Numeric, B: number, layout: Layout, out: T): T {
  const [H, R, C] = layout.shape;
  const bs = layout.block;
  const rows = R * bs;
  const cols = C * bs;
  if (dense.length !== B * H * rows * cols) {
    throw new RangeError(`dense has ${dense.length} values, expected B*H*${rows}*${cols} = ${B * H * rows * cols}`);
  }
  const nz = layoutNonZeros(layout);
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (const { h, r, c } of nz) {
      const base = (b * H + h) * rows * cols;
      for (let i = 0; i < bs; i++) {
        for (let j = 0; j < bs; j++) out[o++] = dense[base + (r * bs + i) * cols + c * bs + j];
      }
    }
  }
  return out;
}

/** The kept blocks of a dense [B, H, R*block, C*block] matrix, as float64 data of shape [B, nnz, block, block]. */
export function sparseFromDense64(dense: Numeric, B: number, layout: Layout): Float64Array {
  const n = B * layoutNonZeros(layout).length * layout.block * layout.block;
  return gather(dense, B, layout, new Float64Array(n));
}

/** The dense [B, H, R*block, C*block] matrix of a block-sparse tensor, zeros outside the kept blocks. */
export function denseFromSparse(bs: BlockSparseTensor | RefBlockSparse): Float64Array {
  const { layout } = bs;
  const [H, R, C] = layout.shape;
  const blk = layout.block;
  const nz = layoutNonZeros(layout);
  const B = bs.shape[0];
  const expected = [B, nz.length, blk, blk];
  if (bs.shape.length !== 4 || bs.shape.some((d, i) => d !== expected[i])) {
    throw new RangeError(`block-sparse shape [${bs.shape}] does not match layout, expected [${expected}]`);
  }
  if (bs.data.length !== B * nz.length * blk * blk) {
    throw new RangeError(`block-sparse data has ${bs.data.length} values, expected ${B * nz.length * blk * blk}`);
  }
  const rows = R * blk;
  const cols = C * blk;
  const out = new Float64Array(B * H * rows * cols);
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (const { h, r, c } of nz) {
      const base = (b * H + h) * rows * cols;
      for (let i = 0; i < blk; i++) {
        for (let j = 0; j < blk; j++) out[base + (r * blk + i) * cols + c * blk + j] = bs.data[o++];
      }
    }
  }
  return out;
}
