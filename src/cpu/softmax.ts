// Host side of DeepSpeed's block-sparse Softmax (assembly/sparse-softmax.ts): the kernels work in
// place on a copy of the block data; tasks own whole block rows (batch-head, r), split by kept
// blocks, and every row is computed alone, so results do not depend on the split.
import type { SoftmaxProblem, SoftmaxBackwardProblem } from '../backend.js';
import type { CpuContext } from './context.js';
import { partitionRows, taskCount } from './tasks.js';

export async function softmax(ctx: CpuContext, p: SoftmaxProblem): Promise<Float32Array> {
  const L = p.layout;
  const length = p.B * L.nnz * L.block * L.block;
  if (length === 0) return new Float32Array(0);
  const t = ctx.tables(L);
  const { arena } = ctx;
  const x = arena.putF32(p.x);
  const rpe = p.rpe ? arena.putF32(p.rpe) : 0;
  const kpm = p.keyPadding ? arena.putF32(p.keyPadding) : 0;
  const am = p.attnMask ? arena.putF32(p.attnMask) : 0;
  const ranges = partitionRows(L.rowBlocks, p.H, p.B * p.H, L.rows, taskCount(ctx), 1, 0);
  await ctx.run('softmaxForward', ranges.map(([begin, end]) => ({
    x, kvPtr: t.kvPtr, kvIndices: t.kvIndices, causalKind: t.causalKind, H: p.H, R: L.rows, nnz: L.nnz, blk: L.block, scale: p.scale,
    rpe, kpm, am, causal: p.causal ? 1 : 0, begin, end,
  })));
  return arena.takeF32(x, length);
}

export async function softmaxBackward(ctx: CpuContext, p: SoftmaxBackwardProblem): Promise<Float32Array> {
  const L = p.layout;
  const length = p.B * L.nnz * L.block * L.block;
  if (length === 0) return new Float32Array(0);
  const t = ctx.tables(L);
  const y = ctx.arena.putF32(p.y);
  const dy = ctx.arena.putF32(p.dy);
  const ranges = partitionRows(L.rowBlocks, p.H, p.B * p.H, L.rows, taskCount(ctx), 1, 0);
  await ctx.run('softmaxBackward', ranges.map(([begin, end]) => ({
    y, dy, kvPtr: t.kvPtr, H: p.H, R: L.rows, nnz: L.nnz, blk: L.block, scale: p.scale, begin, end,
  })));
  return ctx.arena.takeF32(dy, length);
}
