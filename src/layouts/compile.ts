// A Layout compiled once into the Int32 lookup tables every backend reads (Triton's blocksparse LUTs,
// named like FlexAttention's BlockMask): `kv*` walk a block row's kept columns (forward, dQ), `q*`
// walk a block column's kept rows (dK, dV), so that each thread or workgroup owns disjoint outputs.
import type { Layout } from '../types.js';

/** What `causal` does to a kept block: kept whole, cut along the diagonal, or dropped. */
export const CausalKind = { Full: 0, Partial: 1, Empty: 2 } as const;

export interface CompiledLayout {
  readonly layout: Layout;
  readonly block: number;
  readonly heads: number;
  readonly rows: number;
  readonly cols: number;
  /** Kept blocks over all heads; entry e is the e-th non-zero in (head, row, column) order. */
  readonly nnz: number;
  /** [H*R + 1]: entries of block row (h, r) are kvIndices[kvPtr[h*R + r] .. kvPtr[h*R + r + 1]). */
  readonly kvPtr: Int32Array;
  /** [nnz]: the column of each entry, ascending within a row. The entry index is the position. */
  readonly kvIndices: Int32Array;
  /** [H*C + 1]: the transpose, per block column (h, c). */
  readonly qPtr: Int32Array;
  /** [nnz]: the row of each transposed entry, ascending within a column. */
  readonly qIndices: Int32Array;
  /** [nnz]: for each transposed entry, its entry index (its block in a BlockSparseTensor). */
  readonly qEntries: Int32Array;
  /** [nnz]: per entry, a CausalKind (meaningful for square layouts). */
  readonly causalKind: Uint8Array;
  /** Kept blocks divided by H*R*C. */
  readonly density: number;
}

const cache = new WeakMap<Uint8Array, CompiledLayout>();

/**
 * Compiles a layout to lookup tables, cached by the identity of `layout.data` (layouts are
 * treated as immutable; DeepSpeed's cache keyed by sequence length hands out stale tables).
 */
export function compileLayout(layout: Layout): CompiledLayout {
  const hit = cache.get(layout.data);
  if (hit && hit.block === layout.block && sameShape(hit.layout.shape, layout.shape)) return hit;
  const compiled = buildTables(layout);
  cache.set(layout.data, compiled);
  return compiled;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function buildTables(layout: Layout): CompiledLayout {
  const [H, R, C] = layout.shape;
  const data = layout.data;
  const kvPtr = new Int32Array(H * R + 1);
  const colCount = new Int32Array(H * C);
  let nnz = 0;
  for (let hr = 0; hr < H * R; hr++) {
    const h = (hr / R) | 0;
    const base = hr * C;
    for (let c = 0; c < C; c++) {
      if (data[base + c] !== 0) {
        nnz++;
        colCount[h * C + c]++;
      }
    }
    kvPtr[hr + 1] = nnz;
  }
  const kvIndices = new Int32Array(nnz);
  const causalKind = new Uint8Array(nnz);
  const qPtr = new Int32Array(H * C + 1);
  for (let hc = 0; hc < H * C; hc++) qPtr[hc + 1] = qPtr[hc] + colCount[hc];
  const qIndices = new Int32Array(nnz);
  const qEntries = new Int32Array(nnz);
  const fill = qPtr.slice(0, H * C);
  let e = 0;
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      const base = (h * R + r) * C;
      for (let c = 0; c < C; c++) {
        if (data[base + c] === 0) continue;
        kvIndices[e] = c;
        causalKind[e] = c < r ? CausalKind.Full : c === r ? CausalKind.Partial : CausalKind.Empty;
        const t = fill[h * C + c]++;
        qIndices[t] = r; // rows arrive in ascending order, so each column's list is sorted
        qEntries[t] = e;
        e++;
      }
    }
  }
  return {
    layout, block: layout.block, heads: H, rows: R, cols: C, nnz,
    kvPtr, kvIndices, qPtr, qIndices, qEntries, causalKind,
    density: H * R * C === 0 ? 0 : nnz / (H * R * C),
  };
}
