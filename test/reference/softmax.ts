// Float64 reference of DeepSpeed's block-sparse Softmax: per row, y = softmax(x·scale + rpe + kpm + am)
// over the kept blocks (−∞ elsewhere and, when causal, above the diagonal); a row with nothing left is 0.
import { makeBiasRow, softmaxRow } from './scores.js';
import { denseFromSparse, layoutNonZeros, sparseFromDense64 } from './sparse.js';
import type { RefBlockSparse, RefSoftmaxArgs, RefSoftmaxBackwardArgs } from './types.js';

function scaleOf(scale: number | undefined): number {
  const s = scale ?? 1;
  if (!Number.isFinite(s)) throw new RangeError(`scale is ${s}, expected a finite number`);
  return s;
}

/** Softmax of a block-sparse x, Float64Array [B, nnz, block, block] in x's storage order. */
export function referenceSoftmax(args: RefSoftmaxArgs): Float64Array {
  const { x } = args;
  const { layout } = x;
  const [H, R, C] = layout.shape;
  const B = x.shape[0];
  const M = R * layout.block;
  const N = C * layout.block;
  const scale = scaleOf(args.scale);
  const bias = makeBiasRow(args, layout, { B, H, M, N });
  const dense = denseFromSparse(x); // validates x
  const row = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < M; i++) {
        const off = ((b * H + h) * M + i) * N;
        bias(b, h, i, row);
        for (let j = 0; j < N; j++) if (row[j] !== -Infinity) row[j] = dense[off + j] * scale + row[j];
        softmaxRow(row);
        dense.set(row, off);
      }
    }
  }
  return sparseFromDense64(dense, B, layout);
}

function sameLayout(a: RefBlockSparse, b: RefBlockSparse): boolean {
  const la = a.layout;
  const lb = b.layout;
  return (
    la.block === lb.block &&
    la.shape.every((d, i) => d === lb.shape[i]) &&
    la.data.length === lb.data.length &&
    la.data.every((v, i) => (v !== 0) === (lb.data[i] !== 0)) &&
    a.shape.every((d, i) => d === b.shape[i])
  );
}

/**
 * DeepSpeed's softmax backward: dx = y ∘ (dy − rowsum(y∘dy)) · scale, the row sum over the kept
 * blocks of the row. Float64Array [B, nnz, block, block].
 */
export function referenceSoftmaxBackward(args: RefSoftmaxBackwardArgs): Float64Array {
  const { y, dy } = args;
  if (!sameLayout(y, dy)) throw new RangeError('dy must have the layout and shape of y');
  const scale = scaleOf(args.scale);
  const B = y.shape[0];
  const [H, R, C] = y.layout.shape;
  const blk = y.layout.block;
  if (layoutNonZeros(y.layout).length * B * blk * blk !== dy.data.length) {
    throw new RangeError(`dy.data has ${dy.data.length} values`);
  }
  const Y = denseFromSparse(y);
  const G = denseFromSparse(dy);
  const M = R * blk;
  const N = C * blk;
  const dx = new Float64Array(Y.length);
  for (let rowStart = 0; rowStart < B * H * M * N; rowStart += N) {
    let sum = 0;
    for (let j = 0; j < N; j++) sum += Y[rowStart + j] * G[rowStart + j];
    for (let j = 0; j < N; j++) dx[rowStart + j] = Y[rowStart + j] * (G[rowStart + j] - sum) * scale;
  }
  return sparseFromDense64(dx, B, y.layout);
}
