// Host side of assembly/decode-selected.ts: the attention that reads a selection still waiting
// (held-selection.ts) makes it in the same call, a task per few block rows (b, h, r): each row is
// pooled, scored and cut, then attended over what it kept. The kernel runs the two-call path's
// own item functions (poolBlock, selectRow, decodeItem, mergeRow) in their order, so the layout's
// bytes, out and lse are bitwise those of selectBlocks followed by attention.
import type { AttentionProblem, OperandData } from '../backend.js';
import { internal } from '../errors.js';
import { queryBlockRows, queryRuns, rowsOfRuns, SelectedRows } from '../layouts/selected-layout.js';
import type { CpuContext } from './context.js';
import { decodeScratchFloats, decodeTuning, slotFloats, takesDecodePath, type DecodeOperands } from './decode.js';
import type { CpuHeldSelection } from './held-selection.js';
import { CpuResident } from './resident.js';
import { partitionEvenly, streamingTaskCount } from './tasks.js';

/** The kernel's parameter words, in the order assembly/decode-selected.ts reads them; f32 where named in F32_PARAMS. */
const DECODE_SELECTED_PARAMS = [
  'qs', 'qLimit', 'kp', 'kLo', 'kHi', 'rows', 'items', 'qOffset', 'keyLengths',
  'Hq', 'Hkv', 'Nq', 'R', 'C', 'kBlocks', 'D', 'block', 'selCausal', 'bound', 'selScale',
  'topK', 'threshold', 'keepDiagonal', 'keepFirst', 'keepLocal',
  'q', 'k', 'v', 'out', 'lse', 'Nk', 'kvStride', 'causal', 'scale', 'chunkKeys', 'maxChunks',
] as const;
const F32_PARAMS: ReadonlySet<string> = new Set(['selScale', 'threshold', 'scale']);
type Params = Record<(typeof DECODE_SELECTED_PARAMS)[number], number>;

const align16 = (bytes: number) => (bytes + 15) & ~15;

/** Bytes of one task's scratch (twin of assembly/decode-selected.ts scratchLayout, plus its partial slots). */
function scratchBytes(D: number, C: number, N: number, block: number): number {
  return align16(D * 4) + align16(12 * C) + align16(4 * C) + align16(decodeScratchFloats(D, block, N) * 4) + decodeTuning.maxChunks * slotFloats(D, block, N) * 4;
}

const sameInts = (a: Int32Array, b: Int32Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Whether attention `p` can make the waiting selection `s` in its own call: a decode step over the
 * cache the selection read (the same k and v), the same batch, heads, query rows, offsets and keys,
 * without masks or rpe (keyLengths arrive as a mask).
 */
export function makesSelection(p: AttentionProblem<OperandData>, s: CpuHeldSelection): boolean {
  const sel = s.problem;
  return s.waiting && takesDecodePath(p) && p.k === sel.k && p.B === sel.B && p.H === sel.Hq && p.Hkv === sel.Hkv && p.N === sel.Nq
    && p.D === sel.D && p.Nk === sel.Nk && p.kvStride === sel.kvStride && sameInts(p.qOffset, sel.qOffset)
    && !p.rpe && !p.keyPadding && !p.attnMask;
}

/** The selection `s` and the attention `p` over it, in one kernel call; returns the selection's rows. */
export async function decodeSelected(ctx: CpuContext, s: CpuHeldSelection, p: AttentionProblem<OperandData>, ops: DecodeOperands): Promise<SelectedRows> {
  const sel = s.problem;
  const held = sel.summaries;
  const pointer = (x: OperandData | undefined) => (x instanceof CpuResident ? x.pointer : 0);
  if (!held || !(sel.q instanceof Float32Array)) throw internal('a held CPU selection without its summaries or its copy of q');
  const { B, Hq, Nq, D, block, R, C } = sel;
  const bound = sel.score === 'bound';
  const a = ctx.arena;
  const runs = queryRuns(queryBlockRows(sel), Hq, R);
  const order = rowsOfRuns(runs);
  const rows = a.alloc(order.length * C);
  const values: Params = {
    qs: a.putF32(sel.q), qLimit: a.putI32(new Int32Array(B).fill(Nq)),
    kp: bound ? 0 : pointer(held.mean), kLo: bound ? pointer(held.min) : 0, kHi: bound ? pointer(held.max) : 0,
    rows, items: a.putI32(order), qOffset: ops.qOffset, keyLengths: a.putI32(sel.keyLengths),
    Hq, Hkv: sel.Hkv, Nq, R, C, kBlocks: held.blocks, D, block, selCausal: sel.causal ? 1 : 0, bound: bound ? 1 : 0, selScale: sel.scale,
    topK: sel.topK, threshold: sel.threshold, keepDiagonal: sel.keepDiagonal ? 1 : 0, keepFirst: sel.keepFirst, keepLocal: sel.keepLocal,
    q: ops.q, k: ops.k, v: ops.v, out: ops.out, lse: ops.lse, Nk: p.Nk, kvStride: p.kvStride, causal: p.causal ? 1 : 0, scale: p.scale,
    chunkKeys: decodeTuning.chunkKeys, maxChunks: decodeTuning.maxChunks,
  };
  if (values.kp + values.kLo === 0) throw internal('the CPU backend got summaries another backend holds');
  const params = a.alloc(DECODE_SELECTED_PARAMS.length * 4);
  const words = a.i32(params, DECODE_SELECTED_PARAMS.length);
  const reals = a.f32(params, DECODE_SELECTED_PARAMS.length);
  DECODE_SELECTED_PARAMS.forEach((name, i) => {
    if (F32_PARAMS.has(name)) reals[i] = values[name];
    else words[i] = values[name];
  });
  // each row reads its allowed key blocks' summaries, then the K and V blocks it keeps: a step's
  // few rows are bound by those reads (streamingTaskCount)
  const allowed = Math.min(C, Math.ceil(Math.max(...sel.keyLengths) / block));
  const kept = Math.min(allowed, s.maxRowBlocks);
  const bytes = order.length * (allowed * D * 4 * (bound ? 2 : 1) + kept * 2 * block * D * 4);
  const flops = order.length * (allowed * D * 2 + kept * 4 * block * D * Math.min(Nq, 4));
  const { tasks, inline } = streamingTaskCount(ctx, flops, bytes);
  const ranges = partitionEvenly(order.length, tasks);
  const scratch = scratchBytes(D, C, Nq, block);
  await ctx.run('decodeSelected', ranges.map(([itemBegin, itemEnd]) => ({ params, itemBegin, itemEnd, scratch: a.alloc(scratch) })), inline ? 'inline' : undefined);
  return new SelectedRows(block, [B, Hq, R, C], runs, a.takeU8(rows, order.length * C));
}
