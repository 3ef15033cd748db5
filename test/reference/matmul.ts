// Float64 reference of DeepSpeed's block-sparse MatMul modes:
//   sdd: dense op(a) [B,H,M,K] × dense op(b) [B,H,K,N] → kept blocks of layout [H, M/block, N/block]
//        as [B, nnz, block, block];
//   dsd: sparse op(a) × dense op(b) → dense [B,H,M,N];  dds: dense op(a) × sparse op(b) → dense.
// op(x) = xᵀ (last two dims) when transX. A sparse operand's layout [H, R, C] describes the stored
// matrix [R*block, C*block].
import type { Layout } from '../../src/types.js';
import { layoutNonZeros } from './sparse.js';
import type { Numeric, RefBlockSparse, RefMatmulArgs, RefTensor } from './types.js';

/** A dense [B, H, rows, cols] operand viewed through an optional transpose. */
interface DenseOp {
  B: number;
  H: number;
  /** Rows and columns of op(x). */
  rows: number;
  cols: number;
  at: (bh: number, row: number, col: number) => number;
}

function denseOp(name: string, t: RefTensor, trans: boolean): DenseOp {
  if (t.shape.length !== 4) throw new RangeError(`${name}.shape is [${t.shape}], expected 4 dims`);
  const [B, H, r, c] = t.shape;
  if (t.data.length !== B * H * r * c) throw new RangeError(`${name}.data has ${t.data.length} values`);
  const d: Numeric = t.data;
  return trans
    ? { B, H, rows: c, cols: r, at: (bh, i, j) => d[(bh * r + j) * c + i] }
    : { B, H, rows: r, cols: c, at: (bh, i, j) => d[(bh * r + i) * c + j] };
}

/** Calls f(bh, row, col, value) for every stored value of a block-sparse operand, (row, col) in op(x). */
function forEachSparse(
  x: RefBlockSparse,
  trans: boolean,
  f: (bh: number, row: number, col: number, value: number) => void,
): void {
  const { layout } = x;
  const blk = layout.block;
  const nz = layoutNonZeros(layout);
  const B = x.shape[0];
  if (x.data.length !== B * nz.length * blk * blk) {
    throw new RangeError(`block-sparse data has ${x.data.length} values, expected ${B * nz.length * blk * blk}`);
  }
  const H = layout.shape[0];
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (const { h, r, c } of nz) {
      for (let i = 0; i < blk; i++) {
        for (let j = 0; j < blk; j++) {
          const row = r * blk + i;
          const col = c * blk + j;
          const v = x.data[o++];
          if (trans) f(b * H + h, col, row, v);
          else f(b * H + h, row, col, v);
        }
      }
    }
  }
}

function sparseOpDims(x: RefBlockSparse, trans: boolean): { B: number; H: number; rows: number; cols: number } {
  const [H, R, C] = x.layout.shape;
  const blk = x.layout.block;
  const rows = (trans ? C : R) * blk;
  const cols = (trans ? R : C) * blk;
  return { B: x.shape[0], H, rows, cols };
}

function checkInner(a: { B: number; H: number; cols: number }, b: { B: number; H: number; rows: number }): void {
  if (a.B !== b.B || a.H !== b.H) throw new RangeError(`batch/head dims differ: a [${a.B}, ${a.H}], b [${b.B}, ${b.H}]`);
  if (a.cols !== b.rows) throw new RangeError(`inner dims differ: op(a) has ${a.cols} columns, op(b) ${b.rows} rows`);
}

function sdd(A: DenseOp, Bop: DenseOp, layout: Layout): Float64Array {
  checkInner(A, Bop);
  const [H, R, C] = layout.shape;
  const blk = layout.block;
  if (H !== A.H || R * blk !== A.rows || C * blk !== Bop.cols) {
    throw new RangeError(`layout.shape [${layout.shape}] (block ${blk}) does not match result [${A.H}, ${A.rows}, ${Bop.cols}]`);
  }
  const nz = layoutNonZeros(layout);
  const K = A.cols;
  const out = new Float64Array(A.B * nz.length * blk * blk);
  let o = 0;
  for (let b = 0; b < A.B; b++) {
    for (const { h, r, c } of nz) {
      const bh = b * H + h;
      for (let i = 0; i < blk; i++) {
        for (let j = 0; j < blk; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += A.at(bh, r * blk + i, k) * Bop.at(bh, k, c * blk + j);
          out[o++] = s;
        }
      }
    }
  }
  return out;
}

/** The reference result: block data [B, nnz, block, block] for 'sdd', a dense [B, H, M, N] otherwise. */
export function referenceMatmul(args: RefMatmulArgs): Float64Array {
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  if (args.mode === 'sdd') {
    return sdd(denseOp('a', args.a, transA), denseOp('b', args.b, transB), args.layout);
  }
  if (args.mode === 'dsd') {
    const A = sparseOpDims(args.a, transA);
    const Bop = denseOp('b', args.b, transB);
    checkInner(A, Bop);
    const { rows: M } = A;
    const N = Bop.cols;
    const out = new Float64Array(A.B * A.H * M * N);
    forEachSparse(args.a, transA, (bh, m, k, v) => {
      for (let n = 0; n < N; n++) out[(bh * M + m) * N + n] += v * Bop.at(bh, k, n);
    });
    return out;
  }
  if (args.mode === 'dds') {
    const A = denseOp('a', args.a, transA);
    const Bop = sparseOpDims(args.b, transB);
    checkInner(A, Bop);
    const M = A.rows;
    const N = Bop.cols;
    const out = new Float64Array(A.B * A.H * M * N);
    forEachSparse(args.b, transB, (bh, k, n, v) => {
      for (let m = 0; m < M; m++) out[(bh * M + m) * N + n] += A.at(bh, m, k) * v;
    });
    return out;
  }
  throw new TypeError(`mode is ${(args as { mode: unknown }).mode}, expected 'sdd', 'dsd' or 'dds'`);
}
