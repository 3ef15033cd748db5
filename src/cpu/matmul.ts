// Host side of DeepSpeed's block-sparse MatMul (assembly/sdd.ts, dsd.ts, dds.ts, gemm.ts). Each
// mode first packs its dense operands into panels (export `matmulPack`, shared by every task
// that reads them), then runs its kernel over tasks that own disjoint outputs:
// - sdd: block rows (batch-head, r) of C, the row's kept blocks;
// - dsd: output block rows, through the row tables (op(A) = A) or the transposed ones (Aᵀ);
// - dds: output block columns, through the transposed tables (op(B) = B) or the row ones (Bᵀ).
// Every output element is summed in one fixed order, whatever the split, so results are bitwise
// identical for every task count.
import type { MatmulProblem } from '../backend.js';
import type { CompiledLayout } from '../layouts/compile.js';
import type { CpuContext } from './context.js';
import { partitionEvenly, partitionRows, taskCount } from './tasks.js';

/** The register tile of assembly/gemm.ts: op(A) in panels of MR rows, op(B) in panels of NR columns. */
const MR = 4;
const NR = 8;
/** Bytes of tile scratch each task needs (a 4×8 f32 tile), twin of `tmp` in assembly/gemm.ts. */
const TILE_SCRATCH = 128;
/** sdd's k chunk: a block×KC chunk of op(A) stays in L2 and a KC×8 panel of op(B) in L1. */
const SDD_KC = 256;

/** A dense operand as the logical matrix X[p][k] that matmulPack packs into panels. */
interface PackSpec {
  src: number;
  /** Matrices (batch-heads) and the floats between them. */
  count: number;
  srcStride: number;
  /** X has groups·G rows; each group starts a panel. */
  groups: number;
  G: number;
  K: number;
  pStride: number;
  kStride: number;
  W: number;
}

/** op(A) [rows × cols] of stored A: X[p][k] = op(A)[p][k]. */
function aRole(src: number, count: number, rows: number, cols: number, trans: boolean, groups: number, W: number): PackSpec {
  // stored [rows][cols], or [cols][rows] when transposed
  return {
    src, count, srcStride: rows * cols, groups, G: rows / groups, K: cols, W,
    pStride: trans ? 1 : cols, kStride: trans ? rows : 1,
  };
}

/** op(B) [rows × cols] of stored B, packed by columns: X[p][k] = op(B)[k][p]. */
function bRole(src: number, count: number, rows: number, cols: number, trans: boolean, groups: number, W: number): PackSpec {
  // stored [rows][cols], or [cols][rows] when transposed
  return {
    src, count, srcStride: rows * cols, groups, G: cols / groups, K: rows, W,
    pStride: trans ? rows : 1, kStride: trans ? 1 : cols,
  };
}

/** Packs a dense operand into fresh arena memory and returns its pointer. */
async function pack(ctx: CpuContext, s: PackSpec): Promise<number> {
  const panelsPerGroup = Math.ceil(s.G / s.W);
  const items = s.count * s.groups * panelsPerGroup;
  const dst = ctx.arena.alloc(Math.max(4, items * s.K * s.W * 4));
  const tasks = partitionEvenly(items, taskCount(ctx)).map(([begin, end]) => ({
    src: s.src, dst, groups: s.groups, G: s.G, K: s.K, pStride: s.pStride, kStride: s.kStride, W: s.W, srcStride: s.srcStride, begin, end,
  }));
  await ctx.run('matmulPack', tasks);
  return dst;
}

/** Per-task scratch regions of `bytes` each (64-byte aligned). */
function scratch(ctx: CpuContext, tasks: number, bytes: number): number[] {
  const stride = Math.ceil(bytes / 64) * 64;
  const base = ctx.arena.alloc(tasks * stride);
  return Array.from({ length: tasks }, (_, i) => base + i * stride);
}

export async function matmul(ctx: CpuContext, p: MatmulProblem): Promise<Float32Array> {
  switch (p.mode) {
    case 'sdd':
      return sdd(ctx, p);
    case 'dsd':
    case 'dds':
      return sparseDense(ctx, p, p.mode);
  }
}

async function sdd(ctx: CpuContext, p: MatmulProblem): Promise<Float32Array> {
  const L = p.layout;
  const blk = L.block;
  const BH = p.B * p.H;
  const outLength = p.B * L.nnz * blk * blk;
  if (outLength === 0) return new Float32Array(0);
  if (p.K === 0) return new Float32Array(outLength);
  const t = ctx.tables(L);
  const a = ctx.arena.putF32(p.a);
  const b = ctx.arena.putF32(p.b);
  const aPacked = await pack(ctx, aRole(a, BH, p.M, p.K, p.transA, L.rows, MR));
  const bPacked = await pack(ctx, bRole(b, BH, p.K, p.N, p.transB, L.cols, NR));
  const out = ctx.arena.alloc(outLength * 4);
  const ranges = partitionRows(L.rowBlocks, p.H, BH, L.rows, taskCount(ctx), 1, 0);
  const tmp = scratch(ctx, ranges.length, TILE_SCRATCH);
  await ctx.run('sdd', ranges.map(([begin, end], i) => ({
    aPacked, bPacked, c: out, kvPtr: t.kvPtr, kvIndices: t.kvIndices,
    H: p.H, R: L.rows, C: L.cols, nnz: L.nnz, blk, K: p.K, kc: SDD_KC, begin, end, tmp: tmp[i],
  })));
  return ctx.arena.takeF32(out, outLength);
}

/**
 * The tables dsd and dds walk their output block lines with: by layout column (the transposed
 * tables, with their entry map) or by layout row (the row tables; entry map 0). `lines` counts the
 * lines; `blocks` their kept-block counts, for partitioning.
 */
function blockLines(ctx: CpuContext, L: CompiledLayout, byColumn: boolean) {
  const t = ctx.tables(L);
  return byColumn
    ? { lines: L.cols, ptr: t.qPtr, idx: t.qIndices, ent: t.qEntries, blocks: L.colBlocks }
    : { lines: L.rows, ptr: t.kvPtr, idx: t.kvIndices, ent: 0, blocks: L.rowBlocks };
}

/**
 * dsd (A sparse) and dds (B sparse): the dense operand is packed, and tasks own lines of C's
 * blocks, which the sparse operand's table walks: for A its block rows (columns for Aᵀ), for B
 * its block columns (rows for Bᵀ).
 */
async function sparseDense(ctx: CpuContext, p: MatmulProblem, kernel: 'dsd' | 'dds'): Promise<Float32Array> {
  const L = p.layout;
  const blk = L.block;
  const BH = p.B * p.H;
  const outLength = BH * p.M * p.N;
  const sparseA = kernel === 'dsd';
  const { lines, ptr, idx, ent, blocks } = blockLines(ctx, L, sparseA ? p.transA : !p.transB);
  const a = ctx.arena.putF32(p.a);
  const b = ctx.arena.putF32(p.b);
  const packed = await pack(ctx, sparseA ? bRole(b, BH, p.K, p.N, p.transB, 1, NR) : aRole(a, BH, p.M, p.K, p.transA, 1, MR));
  const out = ctx.arena.alloc(outLength * 4);
  const ranges = partitionRows(blocks, p.H, BH, lines, taskCount(ctx), blk, 1);
  const panel = sparseA ? MR : NR; // the sparse block's own packing
  const scr = scratch(ctx, ranges.length, TILE_SCRATCH + Math.ceil(blk / panel) * panel * blk * 4);
  const tasks = ranges.map(([begin, end], i) => ({ c: out, ptr, idx, ent, H: p.H, nnz: L.nnz, blk, begin, end, scratch: scr[i] }));
  if (sparseA) await ctx.run('dsd', tasks.map((x) => ({ ...x, a, bPacked: packed, Ro: lines, K: p.K, N: p.N, transA: p.transA ? 1 : 0 })));
  else await ctx.run('dds', tasks.map((x) => ({ ...x, aPacked: packed, b, Co: lines, M: p.M, K: p.K, transB: p.transB ? 1 : 0 })));
  return ctx.arena.takeF32(out, outLength);
}
