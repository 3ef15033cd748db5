// Host side of engine.selectBlocks on the CPU (assembly/block-pooling.ts, block-selection.ts): the
// query and key blocks are pooled by one kernel (items: pooled blocks; the keys' mean, or their
// min and max for the bound score; a KV cache's summaries stand in for them where they hold those
// blocks), then tasks own block rows (b, h, r), each scored and cut in Wasm where its scores are
// made: the cut needs only the row, and the scores never leave the task's scratch. Every item is computed the same whichever task runs
// it, so the bytes are identical for every thread count. Only the rows holding a query are listed,
// held in Wasm and copied out (a decode step's: one per head), and they are the result
// (SelectedRows): the layout's other rows are empty, its dense bytes are built only if a user reads
// them, and compileLayout reads the rows: the step costs its active rows, not B·Hq·R·C.
import type { OperandData, ResidentData, SelectBlocksProblem } from '../backend.js';
import { internal } from '../errors.js';
import { queryBlockRows, queryRuns, rowsOfRuns, SelectedRows } from '../layouts/selected-layout.js';
import type { CpuContext } from './context.js';
import { partitionByWeight } from './partition.js';
import { CpuResident } from './resident.js';
import { dynamicTaskCount, partitionEvenly, runsInline, streamingTaskCount } from './tasks.js';

/** Bytes of per-task scratch of selectBlockRows per block column: scores, exponentials, heap. */
const ROW_SCRATCH = 12;

function operand(ctx: CpuContext, x: OperandData): number {
  if (x instanceof CpuResident) return x.pointer;
  if (!(x instanceof Float32Array)) throw internal('the CPU backend got data another backend holds');
  return ctx.arena.putF32(x);
}

export async function selectBlocks(ctx: CpuContext, p: SelectBlocksProblem): Promise<SelectedRows> {
  const { B, Hq, Hkv, Nq, Nk, D, block, R, C } = p;
  const a = ctx.arena;
  const bound = p.score === 'bound';
  const q = operand(ctx, p.q);
  const qp = a.alloc(B * Hq * R * D * 4);
  const qShift = a.putI32(p.qOffset);
  const qLimit = a.putI32(new Int32Array(B).fill(Nq));
  const kShift = a.putI32(new Int32Array(B));
  const keyLengths = a.putI32(p.keyLengths);
  // the key blocks: a KV cache's summaries where they hold exactly these blocks, else pooled here
  let keys: { mean: number; lo: number; hi: number; blocks: number };
  const held = p.summaries;
  if (held) {
    const at = (r: ResidentData) => (r instanceof CpuResident ? r.pointer : 0);
    keys = { mean: bound ? 0 : at(held.mean), lo: bound ? at(held.min) : 0, hi: bound ? at(held.max) : 0, blocks: held.blocks };
    if (keys.mean + keys.lo === 0) throw internal('the CPU backend got summaries another backend holds');
  } else {
    const bytes = B * Hkv * C * D * 4;
    keys = bound ? { mean: 0, lo: a.alloc(bytes), hi: a.alloc(bytes), blocks: C } : { mean: a.alloc(bytes), lo: 0, hi: 0, blocks: C };
  }
  const k = held ? 0 : operand(ctx, p.k);
  // a decode step's pooling and selection are microseconds: on the calling thread (no pool round trips)
  const poolWork = (B * Hq * Nq + (held ? 0 : B * Hkv * Nk)) * D;
  const poolInline = runsInline(poolWork);
  const poolTasks = poolInline ? 1 : dynamicTaskCount(ctx, poolWork);
  const pool = (src: number, mean: number, lo: number, hi: number, shift: number, limit: number, heads: number, rows: number, blocks: number, jFirst = 0, jCount = blocks, b = 0, batches = B) =>
    partitionEvenly(batches * heads * jCount, poolTasks).map(([itemBegin, itemEnd]) => ({
      src, mean, lo, hi, shift, limit, heads, rows, D, block, blocks, jFirst, jCount,
      itemBegin: b * heads * jCount + itemBegin, itemEnd: b * heads * jCount + itemEnd,
    }));
  // only the query blocks that hold a query are pooled (a decode step's: one per head)
  const active = queryBlockRows(p);
  const whole = active.every(([r0, r1]) => r0 === 0 && r1 === R);
  await ctx.run('poolBlocks', [
    ...(whole ? pool(q, qp, 0, 0, qShift, qLimit, Hq, Nq, R) : active.flatMap(([r0, r1], b) => pool(q, qp, 0, 0, qShift, qLimit, Hq, Nq, R, r0, r1 - r0, b, 1))),
    ...(held ? [] : pool(k, keys.mean, keys.lo, keys.hi, kShift, keyLengths, Hkv, p.kvStride, C)),
  ], poolInline ? 'inline' : undefined);

  // the block rows that hold a query, as runs of items t = (b, h, r); the others stay empty
  const runs = queryRuns(active, Hq, R);
  // the rows in a list (the kernel runs its positions); each weighs its allowed columns (causal rows
  // grow along r), plus the cut's fixed cost
  const order = rowsOfRuns(runs);
  const prefix = new Float64Array(order.length + 1);
  order.forEach((t, u) => {
    const b = Math.floor(t / (Hq * R));
    const r = t % R;
    let n = Math.min(Math.ceil(p.keyLengths[b] / block), C);
    if (p.causal) n = Math.min(n, r + 1);
    prefix[u + 1] = prefix[u] + 8 + n;
  });
  // each row reads its allowed key blocks' summaries (mean, or min and max) from memory once per
  // kv head at most: a decode step's few rows are bound by those reads, not their flops
  const selectWork = prefix[order.length] * D * 2;
  const summaryBytes = Math.min(prefix[order.length] - 8 * order.length, B * Hkv * keys.blocks) * D * 4 * (bound ? 2 : 1);
  const { tasks: selectTasks, inline: selectInline } = streamingTaskCount(ctx, selectWork, summaryBytes);
  const tasks = partitionByWeight(prefix, selectTasks);
  const stride = Math.ceil((C * ROW_SCRATCH) / 64) * 64;
  const scratch = a.alloc(tasks.length * stride);
  // Wasm holds the listed rows only, in the list's order: the runs' rows one after another
  const list = a.putI32(order);
  const out = a.alloc(order.length * C);
  await ctx.run('selectBlockRows', tasks.map(([itemBegin, itemEnd], i) => ({
    qp, kp: keys.mean, kLo: keys.lo, kHi: keys.hi, out, items: list, qOffset: qShift, keyLengths, Hq, Hkv, Nq, R, C, kBlocks: keys.blocks, D, block,
    causal: p.causal ? 1 : 0, bound: bound ? 1 : 0, scale: p.scale,
    topK: p.topK, threshold: p.threshold, keepDiagonal: p.keepDiagonal ? 1 : 0, keepFirst: p.keepFirst, keepLocal: p.keepLocal,
    itemBegin, itemEnd, scratch: scratch + i * stride,
  })), selectInline ? 'inline' : undefined);
  return new SelectedRows(block, [B, Hq, R, C], runs, a.takeU8(out, order.length * C));
}
