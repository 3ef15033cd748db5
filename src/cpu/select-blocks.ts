// Host side of engine.selectBlocks on the CPU (assembly/block-pooling.ts, block-selection.ts): the
// query and key blocks are pooled by one kernel (items: pooled blocks), then tasks own block rows
// (b, h, r), each scored and cut in Wasm where its scores are made: the cut needs only the row, and
// the scores never leave the task's scratch. Every item is computed the same whichever task runs
// it, so the bytes are identical for every thread count.
import type { OperandData, SelectBlocksProblem } from '../backend.js';
import { internal } from '../errors.js';
import type { CpuContext } from './context.js';
import { partitionByWeight } from './partition.js';
import { CpuResident } from './resident.js';
import { dynamicTaskCount, partitionEvenly } from './tasks.js';

/** Bytes of per-task scratch of selectBlockRows per block column: scores, exponentials, heap. */
const ROW_SCRATCH = 12;

function operand(ctx: CpuContext, x: OperandData): number {
  if (x instanceof CpuResident) return x.pointer;
  if (!(x instanceof Float32Array)) throw internal('the CPU backend got data another backend holds');
  return ctx.arena.putF32(x);
}

export async function selectBlocks(ctx: CpuContext, p: SelectBlocksProblem): Promise<Uint8Array> {
  const { B, Hq, Hkv, Nq, Nk, D, block, R, C } = p;
  const a = ctx.arena;
  const q = operand(ctx, p.q);
  const k = operand(ctx, p.k);
  const qp = a.alloc(B * Hq * R * D * 4);
  const kp = a.alloc(B * Hkv * C * D * 4);
  const qShift = a.putI32(p.qOffset);
  const qLimit = a.putI32(new Int32Array(B).fill(Nq));
  const kShift = a.putI32(new Int32Array(B));
  const keyLengths = a.putI32(p.keyLengths);
  const poolTasks = dynamicTaskCount(ctx, (B * Hq * Nq + B * Hkv * Nk) * D);
  const pool = (src: number, dst: number, shift: number, limit: number, heads: number, rows: number, blocks: number) =>
    partitionEvenly(B * heads * blocks, poolTasks).map(([itemBegin, itemEnd]) => ({
      src, dst, shift, limit, heads, rows, D, block, blocks, itemBegin, itemEnd,
    }));
  await ctx.run('poolBlocks', [...pool(q, qp, qShift, qLimit, Hq, Nq, R), ...pool(k, kp, kShift, keyLengths, Hkv, Nk, C)]);

  // block rows weigh their allowed columns (causal rows grow along r), plus the cut's fixed cost
  const items = B * Hq * R;
  const prefix = new Float64Array(items + 1);
  for (let t = 0; t < items; t++) {
    const b = Math.floor(t / (Hq * R));
    const r = t % R;
    let n = Math.min(Math.ceil(p.keyLengths[b] / block), C);
    if (p.causal) n = Math.min(n, r + 1);
    prefix[t + 1] = prefix[t] + 8 + n;
  }
  const ranges = partitionByWeight(prefix, dynamicTaskCount(ctx, prefix[items] * D * 2));
  const stride = Math.ceil((C * ROW_SCRATCH) / 64) * 64;
  const scratch = a.alloc(ranges.length * stride);
  const out = a.alloc(items * C);
  await ctx.run('selectBlockRows', ranges.map(([itemBegin, itemEnd], i) => ({
    qp, kp, out, qOffset: qShift, keyLengths, Hq, Hkv, Nq, R, C, D, block, causal: p.causal ? 1 : 0, scale: p.scale,
    topK: p.topK, threshold: p.threshold, keepDiagonal: p.keepDiagonal ? 1 : 0, keepFirst: p.keepFirst, keepLocal: p.keepLocal,
    itemBegin, itemEnd, scratch: scratch + i * stride,
  })));
  return a.takeU8(out, items * C);
}
