// What one value of `causal` makes of a compiled layout: per block row and column, how many of its
// kept blocks a call visits and which of them need the causal mask, in FlexAttention's BlockMask
// terms (kv_num_blocks: partial blocks, full_kv_num_blocks: blocks that skip masking; q_* the
// transposed twins, for the backward), and what the schedulers derive from those counts: the
// longest-first orders (GPU), the per-row and per-column weights and readiness (CPU).
//
// Columns ascend within a row and causal drops the blocks above the diagonal, so block row i
// visits a prefix of its entries, full blocks first, then the partial ones:
//     full:    kvIndices[kvPtr[i] .. kvPtr[i] + fullKvNumBlocks[i])
//     partial: the next kvNumBlocks[i] entries
// and block column j a suffix of its transposed entries, partial first, then full:
//     qIndices[qPtr[j + 1] − qNumBlocks[j] − fullQNumBlocks[j] .. qPtr[j + 1]).
// Without causal every kept block is full and visited.
import type { CompiledLayout } from './compile.js';

/**
 * What `causal` does to a kept block: kept whole (full: no masking), cut along the diagonal
 * (partial: masked), or dropped. Twin of assembly/causal-kind.ts and the WGSL `kind` tests.
 */
export const CausalKind = { Full: 0, Partial: 1, Empty: 2 } as const;

export interface Balance {
  readonly max: number;
  readonly mean: number;
}

export interface CausalTables {
  readonly causal: boolean;
  /** [S·R]: per block row, the visited blocks that need the mask (BlockMask kv_num_blocks). */
  readonly kvNumBlocks: Int32Array;
  /** [S·R]: per block row, the visited blocks that need none (full_kv_num_blocks). */
  readonly fullKvNumBlocks: Int32Array;
  /** [S·C]: per block column, the visited blocks that need the mask (q_num_blocks). */
  readonly qNumBlocks: Int32Array;
  /** [S·C]: per block column, the visited blocks that need none (full_q_num_blocks). */
  readonly fullQNumBlocks: Int32Array;
  /** [S·R]: blocks each block row visits, full and partial (the CPU's work per row item). */
  readonly rowKept: Int32Array;
  /** [S·C]: blocks each block column visits. */
  readonly colKept: Int32Array;
  /** Visited blocks over all slots, and of them the full and the partial ones. */
  readonly kept: number;
  readonly keptFull: number;
  readonly keptPartial: number;
  /**
   * [S·R]: the block rows s·R + r by descending rowKept, ties in index order (colOrder [S·C]
   * likewise for columns). GPU workgroups take rows in this order (longest first, LPT
   * scheduling), so long rows do not start last and form a tail, while equal rows keep the
   * natural slot-major order that shares K and V in L2.
   */
  readonly rowOrder: Int32Array;
  readonly colOrder: Int32Array;
  /** The longest and the mean of rowKept. */
  readonly rowBalance: Balance;
  /**
   * For the CPU's attentionBackwardHeads: per slot, its block columns in order of readiness (the
   * last block row that visits them), bucketed by that row: readyOrder [S][C], readyPtr [S][R + 2]
   * (bucket g holds the columns whose last row is g − 1; g = 0 those no row visits).
   */
  readonly readyOrder: Int32Array;
  readonly readyPtr: Int32Array;
}

/** The indices 0..n-1 sorted by descending len (stable). */
export function longestFirst(len: Int32Array): Int32Array {
  return Int32Array.from(Array.from({ length: len.length }, (_, i) => i).sort((a, b) => len[b] - len[a] || a - b));
}

function balance(len: Int32Array): Balance {
  let max = 0;
  let sum = 0;
  for (const x of len) {
    max = Math.max(max, x);
    sum += x;
  }
  return { max, mean: len.length ? sum / len.length : 0 };
}

export function buildCausalTables(L: CompiledLayout, causal: boolean): CausalTables {
  const { slots: S, rows: R, cols: C } = L;
  const kvNumBlocks = new Int32Array(S * R);
  const qNumBlocks = new Int32Array(S * C);
  let fullKvNumBlocks = L.rowBlocks;
  let fullQNumBlocks = L.colBlocks;
  let rowKept = L.rowBlocks;
  let colKept = L.colBlocks;
  let keptFull = L.nnz;
  let keptPartial = 0;
  if (causal) {
    fullKvNumBlocks = new Int32Array(S * R);
    fullQNumBlocks = new Int32Array(S * C);
    rowKept = new Int32Array(S * R);
    colKept = new Int32Array(S * C);
    keptFull = 0;
    for (let i = 0; i < S * R; i++) {
      for (let e = L.kvPtr[i]; e < L.kvPtr[i + 1]; e++) {
        const kind = L.causalKind[e];
        if (kind === CausalKind.Full) fullKvNumBlocks[i]++;
        else if (kind === CausalKind.Partial) kvNumBlocks[i]++;
      }
      rowKept[i] = fullKvNumBlocks[i] + kvNumBlocks[i];
      keptFull += fullKvNumBlocks[i];
      keptPartial += kvNumBlocks[i];
    }
    for (let j = 0; j < S * C; j++) {
      for (let t = L.qPtr[j]; t < L.qPtr[j + 1]; t++) {
        const kind = L.causalKind[L.qEntries[t]];
        if (kind === CausalKind.Full) fullQNumBlocks[j]++;
        else if (kind === CausalKind.Partial) qNumBlocks[j]++;
      }
      colKept[j] = fullQNumBlocks[j] + qNumBlocks[j];
    }
  }
  const { readyOrder, readyPtr } = readiness(L, colKept);
  // the orders sort S·R and S·C items, and only the GPU backend reads them: made at the first read
  let rowOrder: Int32Array | undefined;
  let colOrder: Int32Array | undefined;
  return {
    causal, kvNumBlocks, fullKvNumBlocks, qNumBlocks, fullQNumBlocks, rowKept, colKept,
    kept: keptFull + keptPartial, keptFull, keptPartial,
    get rowOrder() {
      return (rowOrder ??= longestFirst(rowKept));
    },
    get colOrder() {
      return (colOrder ??= longestFirst(colKept));
    },
    rowBalance: balance(rowKept),
    readyOrder, readyPtr,
  };
}

/** Columns bucketed by the last row that visits them: visited rows are a suffix of the column's list. */
function readiness(L: CompiledLayout, colKept: Int32Array): { readyOrder: Int32Array; readyPtr: Int32Array } {
  const { slots: S, rows: R, cols: C } = L;
  const readyOrder = new Int32Array(S * C);
  const readyPtr = new Int32Array(S * (R + 2));
  const last = new Int32Array(C);
  for (let s = 0; s < S; s++) {
    const ptr = readyPtr.subarray(s * (R + 2), (s + 1) * (R + 2));
    for (let c = 0; c < C; c++) {
      const j = s * C + c;
      last[c] = colKept[j] > 0 ? L.qIndices[L.qPtr[j + 1] - 1] : -1; // ascending: the last is the largest
      ptr[last[c] + 2]++;
    }
    for (let g = 0; g <= R; g++) ptr[g + 1] += ptr[g];
    const fill = ptr.slice(0, R + 1);
    for (let c = 0; c < C; c++) readyOrder[s * C + fill[last[c] + 1]++] = c;
  }
  return { readyOrder, readyPtr };
}
