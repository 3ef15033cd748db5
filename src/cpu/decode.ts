// Host side of the decode kernels (assembly/attention-decode.ts), flash-decoding: a call with a few
// query rows has one or two block rows per batch·head, too few items for attention-forward.ts's
// split (one task item per (batch·head, block row)), so each row's kept column blocks are cut into
// chunks of a fixed number of blocks, one work item each, and a second pass merges a row's
// partials by their max and sum. The chunks depend only on the row's entry count and the block,
// and the merge runs in chunk order, so the bits do not depend on the tasks.
// The work list is built from the compiled layout's row tables for the block rows holding queries
// only (per call: O(B·H) rows, a binary search each), never from callVisits: over a KV cache the
// layout is fitted to the capacity, and a step must not cost what the whole cache or layout would.
// For the same reason the kernels read those rows' kept columns, copied per call, not the
// layout's uploaded tables: a step's fresh selection is never uploaded (nor its other tables made).
// k and v are read in place (a KV cache's blocks, kvStride = capacity).
import type { AttentionProblem, OperandData } from '../backend.js';
import { beyondSelfAttention } from '../backend.js';
import type { CpuContext } from './context.js';
import { partitionByWeight } from './partition.js';
import { guidedShares, partitionEvenly, streamingTaskCount, taskCount } from './tasks.js';

/** Internal knobs, exported for tests and benchmarks. */
export const decodeTuning = {
  /** Query rows up to which a call beyond self-attention takes the decode path (0: never). */
  maxRows: 16,
  /** Keys a chunk covers at least (rounded up to whole blocks). */
  chunkKeys: 512,
  /** Chunks a row is cut into at most (longer rows get longer chunks). */
  maxChunks: 64,
};

/**
 * The decode path serves attention with at most maxRows (16) query rows that is not plain
 * self-attention (keys in a KV cache, more keys than queries, an offset, a partial block, a
 * per-batch layout): self-attention and longer queries keep attention-forward.ts's path (and bits).
 */
export function takesDecodePath(p: AttentionProblem<OperandData>): boolean {
  return p.N <= decodeTuning.maxRows && beyondSelfAttention(p) !== null;
}

/** Kept blocks per chunk for a row of `entries` kept blocks: depends on nothing else but the block. */
export function chunkBlocks(entries: number, block: number): number {
  return Math.max(1, Math.ceil(decodeTuning.chunkKeys / block), Math.ceil(entries / decodeTuning.maxChunks));
}

/** An item's weight beyond its blocks: packing Q, zeroing, writing out (as attention.ts's ITEM_OVERHEAD). */
const ITEM_OVERHEAD = 0.25;

/** The kernels' per-task scratch and partial slots (f32 counts): twins of assembly/attention-decode.ts. */
function queryPad(N: number, block: number): number {
  return (Math.min(N, block) + 3) & ~3;
}
export function decodeScratchFloats(D: number, block: number, N: number): number {
  const qpad = queryPad(N, block);
  return 2 * D * qpad + block * qpad + 3 * qpad;
}
export function slotFloats(D: number, block: number, N: number): number {
  const qpad = queryPad(N, block);
  return qpad * D + 2 * qpad;
}

/**
 * The call's work: items [count][5] (bh, r, e0, e1, slot), grouped into units, and merges
 * [count][4]; an item's kept columns are columns[e0 … e1 − 1].
 */
export interface DecodeWork {
  readonly items: Int32Array;
  /** The kept columns the items read: each row's, in the layout's order (kvIndices of its entries). */
  readonly columns: Int32Array;
  /** [units + 1]: unit u is items unitItem[u] … unitItem[u + 1] − 1. */
  readonly unitItem: Int32Array;
  /** [units + 1]: cumulative unit weights. */
  readonly unitWeight: Float64Array;
  readonly merges: Int32Array;
  /** Partial slots the items write. */
  readonly slots: number;
  /** Kept blocks over all items. */
  readonly blocks: number;
}

/** The first entry in lo … hi − 1 of the ascending `indices` at or past column `c` (hi if none). */
function lowerBound(indices: Int32Array, lo: number, hi: number, c: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (indices[mid] < c) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The work list of `p`: per batch row, the block rows holding its queries; per such row and kv
 * head g, chunk c of each of g's query heads in turn (a unit), so that the heads reading the same
 * kv blocks run one after another in one task. A head's row keeps its entries whose columns start
 * before Nk and, with causal, at or before its last query's position; a row with nothing kept is
 * one item with no entries (it writes zeros and −∞).
 */
export function decodeWork(p: AttentionProblem<OperandData>): DecodeWork {
  const { B, H, Hkv, N, Nk, causal } = p;
  const L = p.layout;
  const { block, rows: R, kvPtr, kvIndices } = L;
  const G = H / Hkv;
  const items: number[] = [];
  const unitItem: number[] = [0];
  const unitWeight: number[] = [0];
  const merges: number[] = [];
  const columns: number[] = [];
  let slots = 0;
  let blocks = 0;
  const lo = new Int32Array(G);
  const hi = new Int32Array(G);
  const per = new Int32Array(G);
  const chunks = new Int32Array(G);
  const first = new Int32Array(G);
  for (let b = 0; b < B; b++) {
    const off = p.qOffset[b];
    for (let r = Math.floor(off / block); r <= Math.floor((off + N - 1) / block); r++) {
      const rowEnd = Math.min(N, (r + 1) * block - off);
      const keyEnd = causal ? Math.min(Nk, off + rowEnd) : Nk; // keys past it: none, or all cut
      const endColumn = Math.ceil(keyEnd / block);
      for (let g = 0; g < Hkv; g++) {
        let most = 0;
        for (let j = 0; j < G; j++) {
          const h = g * G + j;
          const i = L.slotOf(b, h) * R + r;
          lo[j] = kvPtr[i];
          const end = lowerBound(kvIndices, kvPtr[i], kvPtr[i + 1], endColumn);
          const n = end - lo[j];
          // the row's entries lo … end − 1, read from columns[base …]
          const base = columns.length;
          for (let e = lo[j]; e < end; e++) columns.push(kvIndices[e]);
          lo[j] = base;
          hi[j] = base + n;
          per[j] = chunkBlocks(n, block);
          chunks[j] = Math.max(1, Math.ceil(n / per[j]));
          first[j] = chunks[j] > 1 ? slots : -1;
          if (chunks[j] > 1) {
            merges.push(b * H + h, r, slots, chunks[j]);
            slots += chunks[j];
          }
          most = Math.max(most, chunks[j]);
          blocks += n;
        }
        for (let c = 0; c < most; c++) {
          let weight = 0;
          for (let j = 0; j < G; j++) {
            if (c >= chunks[j]) continue;
            const e0 = lo[j] + c * per[j];
            const e1 = Math.min(hi[j], e0 + per[j]);
            items.push(b * H + g * G + j, r, e0, e1, first[j] < 0 ? -1 : first[j] + c);
            weight += ITEM_OVERHEAD + (e1 - e0);
          }
          unitItem.push(items.length / 5);
          unitWeight.push(unitWeight[unitWeight.length - 1] + weight);
        }
      }
    }
  }
  return {
    items: Int32Array.from(items), columns: Int32Array.from(columns), unitItem: Int32Array.from(unitItem), unitWeight: Float64Array.from(unitWeight),
    merges: Int32Array.from(merges), slots, blocks,
  };
}

/** Pointers the decode kernels read and write, as attention.ts's forward allocated them. */
export interface DecodeOperands {
  q: number;
  k: number;
  v: number;
  out: number;
  /** 0: no lse. */
  lse: number;
  rpe: number;
  kpm: number;
  am: number;
  qOffset: number;
}

/** Runs the decode kernels over `p` (operands already in the arena). */
export async function decodeForward(ctx: CpuContext, p: AttentionProblem<OperandData>, ops: DecodeOperands): Promise<void> {
  const { H, Hkv, N, Nk, D } = p;
  const block = p.layout.block;
  const a = ctx.arena;
  const work = decodeWork(p);
  const units = work.unitItem.length - 1;
  if (units === 0) return;
  const items = a.putI32(work.items);
  const kvIndices = a.putI32(work.columns);
  const partials = a.alloc(Math.max(4, work.slots * slotFloats(D, block, N) * 4));
  const scratchBytes = decodeScratchFloats(D, block, N) * 4;
  const qpad = queryPad(N, block);
  // a step reads each kept K and V block once (f32 in the arena): over a few selected blocks its
  // reads, not its flops, decide how many tasks are worth a round trip; fewer than 4 query rows are
  // computed as rows (the kernel's scoreFew), more as a tile of qpad
  const flops = 4 * block * D * (N < 4 ? N : qpad) * work.blocks;
  const { tasks, inline } = streamingTaskCount(ctx, flops, 2 * 4 * block * D * work.blocks);
  const parts = Math.min(units, tasks);
  const ranges = partitionByWeight(work.unitWeight, parts, guidedShares(parts, taskCount(ctx)));
  const shape = { H, Hkv, N, Nk, kvStride: p.kvStride, D, block, causal: p.causal ? 1 : 0, scale: p.scale };
  await ctx.run('attentionDecode', ranges.map(([u0, u1]) => ({
    q: ops.q, k: ops.k, v: ops.v, out: ops.out, lse: ops.lse, rpe: ops.rpe, kpm: ops.kpm, am: ops.am,
    kvIndices, qOffset: ops.qOffset, items, partials, ...shape,
    itemBegin: work.unitItem[u0], itemEnd: work.unitItem[u1], scratch: a.alloc(scratchBytes),
  })), inline ? 'inline' : undefined);
  const mergeCount = work.merges.length / 4;
  if (mergeCount === 0) return;
  const merges = a.putI32(work.merges);
  // a merge reads its row's partials once: worth a task per thread only when there are many
  const mergeParts = Math.max(1, Math.min(taskCount(ctx), Math.floor((work.slots * qpad * D) / (1 << 16))));
  await ctx.run('attentionDecodeMerge', partitionEvenly(mergeCount, mergeParts).map(([m0, m1]) => ({
    out: ops.out, lse: ops.lse, qOffset: ops.qOffset, merges, partials, H, N, D, block, mergeBegin: m0, mergeEnd: m1,
  })), inline || mergeParts === 1 ? 'inline' : undefined);
}
