// Layouts to and from ONNX Runtime's CSR tables: com.microsoft.SparseAttention takes a layout as
// block_row_indices (numLayouts, R + 1) and block_col_indices (numLayouts, nnzMax), int32, each
// layout's column list padded on the right with -1 (onnxruntime/core/graph/contrib_ops/bert_defs.cc).
// Row pointers index into their own layout's columns, so every layout starts at 0. ORT applies a
// causal mask and treats a block row with r + 1 entries as dense, so a table meant for it should be
// lower triangular; that is for the caller (attention with causal: true), not a rule of the format.
import { errors } from '../errors.js';
import type { Layout } from '../types.js';
import { checkLayout } from '../validate.js';
import { blockSide, optionsObject, positiveInt } from './args.js';
import { zeroLayout } from './base.js';

/** ONNX Runtime SparseAttention's layout inputs, flattened row-major. */
export interface CsrLayout {
  /** numLayouts·(R + 1) row pointers (`block_row_indices`). */
  rowIndices: Int32Array;
  /** numLayouts·nnzMax block columns (`block_col_indices`), -1 past each layout's last entry. */
  colIndices: Int32Array;
  /** Layouts in the tables; ORT's query head h uses layout h % numLayouts. */
  numLayouts: number;
  /** Tokens per block side (ORT's `sparse_block_size` attribute). */
  block: number;
}

const KNOWN = ['rowIndices', 'colIndices', 'numLayouts', 'block'] as const;

/**
 * The `[numLayouts, R, R]` Layout of ORT's CSR tables. Columns within a row may come in any order
 * (ORT's kernels do not rely on it) but not twice; entries past a layout's last row pointer are
 * padding and are not read.
 */
export function layoutFromCsr(tables: CsrLayout): Layout {
  const o = optionsObject('layoutFromCsr', tables, KNOWN);
  const { rowIndices, colIndices } = o;
  if (!(rowIndices instanceof Int32Array)) throw errors.csrNotInt32('rowIndices', rowIndices);
  if (!(colIndices instanceof Int32Array)) throw errors.csrNotInt32('colIndices', colIndices);
  const numLayouts = positiveInt('numLayouts', o.numLayouts);
  const block = blockSide('block', o.block);

  const stride = rowIndices.length / numLayouts;
  if (!Number.isInteger(stride) || stride < 2) throw errors.csrRowLength(rowIndices.length, numLayouts);
  const R = stride - 1;
  const nnzMax = colIndices.length / numLayouts;
  // ORT's own shape rule: max_nnz <= max_blocks * max_blocks.
  if (!Number.isInteger(nnzMax) || nnzMax > R * R) throw errors.csrColLength(colIndices.length, numLayouts, R);

  const layout = zeroLayout(numLayouts, R, block);
  const data = layout.data;
  for (let l = 0; l < numLayouts; l++) {
    const rows = l * stride;
    if (rowIndices[rows] !== 0) throw errors.csrRowStart(rows, l, rowIndices[rows]);
    // the row pointers first, so that a bad pointer is reported as such, not as the columns it spans
    for (let i = rows + 1; i <= rows + R; i++) {
      if (rowIndices[i] < rowIndices[i - 1]) throw errors.csrRowOrder(i, rowIndices[i], rowIndices[i - 1]);
      if (rowIndices[i] > nnzMax) throw errors.csrRowRange(i, rowIndices[i], nnzMax);
    }
    for (let r = 0; r < R; r++) {
      const start = rowIndices[rows + r];
      const end = rowIndices[rows + r + 1];
      const cells = (l * R + r) * R;
      for (let j = l * nnzMax + start; j < l * nnzMax + end; j++) {
        const c = colIndices[j];
        if (c < 0 || c >= R) throw errors.csrColRange(j, c, R, l, r);
        if (data[cells + c] !== 0) throw errors.csrColRepeat(j, c, l, r);
        data[cells + c] = 1;
      }
    }
  }
  return layout;
}

/**
 * ORT's CSR tables of a square `[H, R, R]` layout, one table layout per layout head: columns in
 * increasing order, nnzMax the largest head's count of kept blocks, shorter heads padded with -1.
 * `layoutFromCsr(layoutToCsr(layout))` is the layout again (any non-zero cell read as 1).
 */
export function layoutToCsr(layout: Layout): CsrLayout {
  checkLayout('layout', layout);
  const [H, R, C] = layout.shape;
  if (R !== C) throw errors.csrNotSquare(layout.shape);
  const data = layout.data;
  const size = R * R;
  let nnzMax = 0;
  for (let h = 0; h < H; h++) {
    let n = 0;
    for (let i = h * size; i < (h + 1) * size; i++) if (data[i] !== 0) n++;
    nnzMax = Math.max(nnzMax, n);
  }
  const rowIndices = new Int32Array(H * (R + 1));
  const colIndices = new Int32Array(H * nnzMax).fill(-1);
  for (let h = 0; h < H; h++) {
    let n = 0;
    for (let r = 0; r < R; r++) {
      const cells = (h * R + r) * R;
      for (let c = 0; c < R; c++) if (data[cells + c] !== 0) colIndices[h * nnzMax + n++] = c;
      rowIndices[h * (R + 1) + r + 1] = n;
    }
  }
  return { rowIndices, colIndices, numLayouts: H, block: layout.block };
}
