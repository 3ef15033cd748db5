// What one attention call visits, per batch row: the kernels (assembly/attention-*.ts) measure each
// tile's causal kind from its absolute positions (a query offset moves the diagonal, a partial last
// block shortens it), so the host's task weights and the backward's column readiness are measured
// the same way here, per call. The self-attention case (offset 0, whole blocks, a shared layout)
// reads the layout's cached tables instead: the same numbers, at no cost per call.
import type { AttentionProblem, OperandData } from '../backend.js';
import { beyondSelfAttention } from '../backend.js';
import type { CausalTables, CompiledLayout } from '../layouts/compile.js';

export interface CallVisits {
  /** Batch rows the tables tell apart: 1 where every batch row visits the same blocks, else B. */
  readonly RB: number;
  /** [RB·H·R]: tiles block row r of (b, h) visits; −1 where it holds no query of batch row b. */
  readonly rowKept: Int32Array;
  /** [RB·Hkv·C]: tiles block column c of (b, kv head g) is visited by, over g's query heads. */
  readonly colKept: Int32Array;
  /** Tiles visited over all B·H. */
  readonly kept: number;
  /**
   * Per (b % RB, g): block columns by readiness (the last block row visiting them, over g's query
   * heads): readyOrder [RB·Hkv][C], readyPtr [RB·Hkv][R + 2] (bucket u holds the columns whose
   * last row is u − 1); null: the layout's uploaded tables (self-attention, one head per kv head).
   */
  readonly readyOrder: Int32Array | null;
  readonly readyPtr: Int32Array | null;
}

/** The visits of `p` (see CallVisits). */
export function callVisits(p: AttentionProblem<OperandData>): CallVisits {
  return beyondSelfAttention(p) === null ? selfVisits(p) : generalVisits(p);
}

function selfVisits(p: AttentionProblem<OperandData>): CallVisits {
  const L = p.layout;
  const visits = L.causalTables(p.causal);
  const G = p.H / p.Hkv;
  const grouped = G > 1 ? groupColumns(L, visits, p.H, G) : null;
  return {
    RB: 1,
    rowKept: visits.rowKept,
    colKept: grouped ? grouped.colKept : visits.colKept,
    kept: visits.kept * p.B,
    readyOrder: grouped ? grouped.readyOrder : null,
    readyPtr: grouped ? grouped.readyPtr : null,
  };
}

function generalVisits(p: AttentionProblem<OperandData>): CallVisits {
  const { B, H, Hkv, N, Nk, causal } = p;
  const L = p.layout;
  const { block, rows: R, cols: C, kvPtr, kvIndices } = L;
  const G = H / Hkv;
  const same = L.batches === 1 && p.qOffset.every((o) => o === p.qOffset[0]);
  const RB = same ? 1 : B;
  const rowKept = new Int32Array(RB * H * R);
  const colKept = new Int32Array(RB * Hkv * C);
  const last = new Int32Array(RB * Hkv * C).fill(-1);
  let kept = 0;
  for (let b = 0; b < RB; b++) {
    const off = p.qOffset[b];
    for (let h = 0; h < H; h++) {
      const s = L.slotOf(b, h);
      const kvBase = (b * Hkv + Math.floor(h / G)) * C;
      for (let r = 0; r < R; r++) {
        const i = (b * H + h) * R + r;
        const row0 = Math.max(0, r * block - off);
        const rows = Math.min(N, (r + 1) * block - off) - row0;
        if (rows <= 0) {
          rowKept[i] = -1;
          continue;
        }
        const lastPosition = off + row0 + rows - 1;
        let n = 0;
        for (let e = kvPtr[s * R + r]; e < kvPtr[s * R + r + 1]; e++) {
          const c = kvIndices[e];
          // the kernels' skips: no keys in the block (past Nk), or all after the queries (causal)
          if (c * block >= Nk || (causal && c * block > lastPosition)) continue;
          n++;
          colKept[kvBase + c]++;
          last[kvBase + c] = Math.max(last[kvBase + c], r); // the latest over the group's heads
        }
        rowKept[i] = n;
        kept += n;
      }
    }
  }
  const readyOrder = new Int32Array(RB * Hkv * C);
  const readyPtr = new Int32Array(RB * Hkv * (R + 2));
  for (let u = 0; u < RB * Hkv; u++) readiness(last.subarray(u * C, (u + 1) * C), R, readyOrder.subarray(u * C, (u + 1) * C), readyPtr.subarray(u * (R + 2), (u + 1) * (R + 2)));
  return { RB, rowKept, colKept, kept: same ? kept * B : kept, readyOrder, readyPtr };
}

/** Columns bucketed by their last visited row (−1: none), stably: order [C], ptr [R + 2]. */
function readiness(last: Int32Array, R: number, order: Int32Array, ptr: Int32Array): void {
  const C = last.length;
  for (let c = 0; c < C; c++) ptr[last[c] + 2]++;
  for (let r = 0; r <= R; r++) ptr[r + 1] += ptr[r];
  const fill = ptr.slice(0, R + 1);
  for (let c = 0; c < C; c++) order[fill[last[c] + 1]++] = c;
}

/**
 * GQA (G query heads per kv head), self-attention: per kv head g, the block columns' visited blocks
 * summed over its query heads h = g·G … g·G + G − 1, each read through its layout slot (colKept
 * [Hkv·C], the column items' weights), and the columns by readiness as causal-tables.ts's
 * readiness, a column's last row the latest over the group (readyOrder [Hkv][C], readyPtr [Hkv][R + 2]).
 */
function groupColumns(L: CompiledLayout, visits: CausalTables, H: number, G: number): { colKept: Int32Array; readyOrder: Int32Array; readyPtr: Int32Array } {
  const { rows: R, cols: C } = L;
  const Hkv = H / G;
  const colKept = new Int32Array(Hkv * C);
  const readyOrder = new Int32Array(Hkv * C);
  const readyPtr = new Int32Array(Hkv * (R + 2));
  const last = new Int32Array(C);
  for (let g = 0; g < Hkv; g++) {
    last.fill(-1);
    for (let j = 0; j < G; j++) {
      const s = L.slotOf(0, g * G + j);
      for (let c = 0; c < C; c++) {
        const i = s * C + c;
        colKept[g * C + c] += visits.colKept[i];
        // visited rows are a suffix of the column's ascending list: the last is the largest
        if (visits.colKept[i] > 0) last[c] = Math.max(last[c], L.qIndices[L.qPtr[i + 1] - 1]);
      }
    }
    readiness(last, R, readyOrder.subarray(g * C, (g + 1) * C), readyPtr.subarray(g * (R + 2), (g + 1) * (R + 2)));
  }
  return { colKept, readyOrder, readyPtr };
}
