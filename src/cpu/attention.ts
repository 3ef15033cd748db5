// Host side of the fused attention kernels (assembly/attention-forward.ts, attention-backward.ts):
// copies host operands into the arena (DeviceTensors are there already), splits the work into tasks
// by kept-block count and runs them. Every output row (forward, dQ) or column (dK, dV) is computed
// by exactly one task in one fixed order, so the results are bitwise identical whatever the number
// of tasks. With grouped kv heads (GQA, MQA) a dK/dV column belongs to a kv head and sums over its
// query heads inside its one item, so backward tasks own whole groups.
import type { AttentionBackwardProblem, AttentionGradientData, AttentionLseData, AttentionProblem, OperandData } from '../backend.js';
import type { CompiledLayout } from '../layouts/compile.js';
import { callVisits, type CallVisits } from './visits.js';
import { decodeForward, takesDecodePath } from './decode.js';
import { decodeSelected, makesSelection } from './decode-selected.js';
import { CpuHeldSelection } from './held-selection.js';
import type { CpuContext, LayoutTablePointers } from './context.js';
import { partitionByWeight } from './partition.js';
import { dynamicTaskCount, guidedShares, taskCount } from './tasks.js';
import { CpuResident } from './resident.js';
import { allocatedBytes } from './arena.js';
import { yieldToEventLoop } from './pool/runner.js';
import { internal } from '../errors.js';

/** An item's weight beyond its kept blocks: packing Q, zeroing and writing its rows. */
const ITEM_OVERHEAD = 0.25;
/** Internal knobs, exported for tests (which shrink the budget to exercise chunking). */
export const attentionTuning = {
  /**
   * The backward keeps P and dS for every kept block of a chunk of batch·heads; chunks are
   * sized to keep those slots under this many bytes (a single batch·head may exceed it).
   */
  slotBudgetBytes: 256 * 2 ** 20,
  /**
   * The backward's schedule: 'heads' (tasks own whole batch·heads, columns interleaved with rows,
   * see assembly/attention-backward.ts), 'passes' (a row pass, then a column pass) or 'auto'.
   */
  backwardSchedule: 'auto' as 'auto' | 'heads' | 'passes',
};

/** Per-task scratch (f32 counts): twins of the layouts at the top of the kernels in assembly/. */
function padded(block: number): number {
  return (block + 7) & ~7;
}
/** The forward's, for items of `hg` query heads (their qt, o, m, l; the shared s, alpha; 2·hg cursor words). */
function forwardScratchFloats(D: number, block: number, hg: number): number {
  const p = padded(block);
  return hg * (2 * D * p + 2 * p) + block * p + p + 2 * hg;
}

/** At most this many query heads share a forward item (their state is 2·D·block floats each). */
const MAX_HEAD_GROUP = 8;

/**
 * Query heads per forward item: a kv head's group (so that each K, V block is read once for all of
 * them while it is in cache), fewer where that would leave threads without items, 1 for multi-head.
 */
function forwardHeadGroup(ctx: CpuContext, p: AttentionProblem<OperandData>): number {
  const G = p.H / p.Hkv;
  // the block rows holding a query (a chunk of Nq rows at an offset straddles at most one more)
  const queryRows = Math.min(p.layout.rows, Math.ceil(p.N / p.layout.block) + 1);
  for (let hg = G; hg > 1; hg--) if (G % hg === 0 && hg <= MAX_HEAD_GROUP && ((p.B * p.H) / hg) * queryRows >= 4 * ctx.threads) return hg;
  return 1;
}

function backwardRowsScratchFloats(D: number, block: number, C: number): number {
  const p = padded(block);
  return 3 * D * p + 4 * p + C * p;
}

/**
 * Task ranges over items u·R + r for u in [u0, u1), r < R (batch·heads and block rows, or kv
 * batch·heads and block columns), weighted by `weight(u, r)`.
 */
function splitItems(
  weight: (u: number, r: number) => number, R: number, u0: number, u1: number, parts: number, threads: number, rampUp = false,
): Array<[number, number]> {
  const n = (u1 - u0) * R;
  const prefix = new Float64Array(n + 1);
  for (let t = 0; t < n; t++) prefix[t + 1] = prefix[t] + weight(u0 + Math.floor(t / R), t % R);
  const base = u0 * R;
  return partitionByWeight(prefix, parts, guidedShares(parts, threads, rampUp)).map(([b, e]) => [base + b, base + e]);
}

/** A row item's weight: its visited tiles and its overhead; 0 for an item holding no query row. */
function rowWeight(p: AttentionProblem<OperandData>, v: CallVisits): (bh: number, r: number) => number {
  const { H } = p;
  const R = p.layout.rows;
  return (bh, r) => {
    const kept = v.rowKept[((Math.floor(bh / H) % v.RB) * H + (bh % H)) * R + r];
    return kept < 0 ? 0 : ITEM_OVERHEAD + kept;
  };
}

/** A column item's weight (bkv = b·Hkv + g, block column c). */
function columnWeight(p: AttentionProblem<OperandData>, v: CallVisits): (bkv: number, c: number) => number {
  const { Hkv } = p;
  const C = p.layout.cols;
  return (bkv, c) => ITEM_OVERHEAD + v.colKept[((Math.floor(bkv / Hkv) % v.RB) * Hkv + (bkv % Hkv)) * C + c];
}

/** A host operand to copy in: q and dout by query head, k and v by kv head (`kv`). */
interface HostInput {
  ptr: number;
  data: Float32Array;
  kv: boolean;
}

interface Operands {
  q: number;
  k: number;
  v: number;
  /** dout, for the backward. */
  dout: number;
  rpe: number;
  kpm: number;
  am: number;
  /** Host operands to copy in (by streamByHead or at once). */
  inputs: HostInput[];
}

/** Query heads per kv head (GQA's group; 1 for multi-head attention). */
const groupOf = (p: AttentionProblem<OperandData>): number => p.H / p.Hkv;

/**
 * Pointers of q, k, v (and dout): a resident's block as it is, host data given room for a copy
 * (listed in `inputs`, filled by the caller); the masks copied in.
 */
function allocOperands(ctx: CpuContext, p: AttentionProblem<OperandData>, dout?: OperandData): Operands {
  const a = ctx.arena;
  const inputs: HostInput[] = [];
  const operand = (x: OperandData | undefined, kv: boolean): number => {
    if (x === undefined) return 0;
    if (x instanceof CpuResident) return x.pointer;
    if (!(x instanceof Float32Array)) throw internal('the CPU backend got data another backend holds');
    const ptr = a.alloc(x.length * 4);
    inputs.push({ ptr, data: x, kv });
    return ptr;
  };
  return {
    q: operand(p.q, false),
    k: operand(p.k, true),
    v: operand(p.v, true),
    dout: operand(dout, false),
    rpe: p.rpe ? a.putF32(p.rpe) : 0,
    kpm: p.keyPadding ? a.putF32(p.keyPadding) : 0,
    am: p.attnMask ? a.putF32(p.attnMask) : 0,
    inputs,
  };
}

/**
 * Where an op's dense outputs go: with keepOnDevice, residents allocated first (before any
 * per-call allocation) that the kernels write in place; else per-call blocks copied out. Each
 * output is by query head (out, dq) or by kv head (`kv`: dk, dv).
 */
class Outputs {
  readonly kept: CpuResident[] | null;
  readonly ptrs: number[];
  private readonly arena: CpuContext['arena'];
  private readonly sizes: number[];
  /** Floats of one query head (out, dq) and of one kv head (dk, dv). */
  private readonly headSize: number;
  private readonly kvHeadSize: number;
  private readonly group: number;
  /** Host arrays, made at the first takeOut: after the first tasks have started (zeroing them delayed the first task: bench/results/README.md). */
  private host: Float32Array[] | null = null;

  constructor(ctx: CpuContext, p: AttentionProblem<OperandData>, private readonly kv: readonly boolean[]) {
    this.arena = ctx.arena;
    this.headSize = p.N * p.D;
    this.kvHeadSize = p.Nk * p.D;
    this.group = groupOf(p);
    this.sizes = kv.map((isKv) => (isKv ? p.B * p.Hkv * this.kvHeadSize : p.B * p.H * this.headSize));
    this.kept = p.keepOnDevice ? this.sizes.map((size) => ctx.persist(size, p.D)) : null;
    this.ptrs = this.kept ? this.kept.map((r) => r.pointer) : this.sizes.map((size) => ctx.arena.alloc(size * 4));
  }

  private hostArrays(): Float32Array[] {
    return (this.host ??= this.sizes.map((size) => new Float32Array(size)));
  }

  /**
   * Copies query heads [bh0, bh1) of each host output out of Wasm memory (kv outputs: their kv
   * heads, [bh0 / group, bh1 / group); bh0 and bh1 are then whole groups).
   */
  takeOut(bh0: number, bh1: number): void {
    if (this.kept) return;
    this.hostArrays().forEach((dst, i) => {
      const [h0, h1] = this.kv[i] ? [bh0 / this.group, bh1 / this.group] : [bh0, bh1];
      const size = this.kv[i] ? this.kvHeadSize : this.headSize;
      const from = h0 * size;
      const length = (h1 - h0) * size;
      dst.set(this.arena.f32(this.ptrs[i] + from * 4, length), from);
    });
  }

  results(): OperandData[] {
    return this.kept ?? this.hostArrays();
  }

  /** A failed call frees its residents (through the backend's queue, after the call). */
  discard(): void {
    for (const r of this.kept ?? []) r.destroy();
  }
}

export async function attentionForward(ctx: CpuContext, p: AttentionProblem<OperandData>): Promise<OperandData> {
  return (await forward(ctx, p, false)).out;
}

/** The forward and each row's log-sum-exp ([B, H, N], natural log, −∞ for a row with nothing kept). */
export async function attentionForwardWithLse(ctx: CpuContext, p: AttentionProblem<OperandData>): Promise<AttentionLseData> {
  const { out, lse } = await forward(ctx, p, true);
  return { out, lse: lse! };
}

async function forward(ctx: CpuContext, p: AttentionProblem<OperandData>, withLse: boolean): Promise<{ out: OperandData; lse: Float32Array | null }> {
  const { B, H, N, D } = p;
  const L: CompiledLayout = p.layout;
  // persistent first (tables, then kept outputs), per-call after; the decode path reads no tables (decode.ts)
  const t = takesDecodePath(p) ? null : ctx.tables(L);
  const outputs = new Outputs(ctx, p, [false]);
  try {
    const block = L.block;
    const R = L.rows;
    const a = ctx.arena;
    const ops = allocOperands(ctx, p);
    const [out] = outputs.ptrs;
    const lse = withLse ? a.alloc(B * H * N * 4) : 0;
    const qOffset = a.putI32(p.qOffset);
    if (t === null) {
      // a few query rows: flash-decoding over chunks of each row's blocks (decode.ts); q is small,
      // and k, v are read in place when they are already here (a KV cache, DeviceTensors)
      for (const x of ops.inputs) a.f32(x.ptr, x.data.length).set(x.data);
      const decodeOps = { q: ops.q, k: ops.k, v: ops.v, out, lse, rpe: ops.rpe, kpm: ops.kpm, am: ops.am, qOffset };
      // a selection still waiting is made here, in the same call (decode-selected.ts); the backend
      // compiled any other held selection into p.layout before the call
      const held = p.residentLayout;
      if (held instanceof CpuHeldSelection && makesSelection(p, held)) held.settle(await decodeSelected(ctx, held, p, decodeOps));
      else if (held) throw internal('a held selection reached the CPU forward uncompiled');
      else await decodeForward(ctx, p, decodeOps);
      outputs.takeOut(0, B * H);
      return { out: outputs.results()[0], lse: withLse ? a.takeF32(lse, B * H * N) : null };
    }
    const visits = callVisits(p);
    // an item is block row r of hg query heads u·hg … u·hg + hg − 1 (one kv head's)
    const hg = forwardHeadGroup(ctx, p);
    const scratchBytes = forwardScratchFloats(D, block, hg) * 4;
    const row = rowWeight(p, visits);
    const weight = (u: number, r: number) => {
      let w = 0;
      for (let j = 0; j < hg; j++) w += row(u * hg + j, r);
      return w;
    };
    // host inputs are copied in head by head as the first tasks start: those start small
    const ranges = splitItems(weight, R, 0, (B * H) / hg, dynamicTaskCount(ctx, 4 * block * block * D * visits.kept), taskCount(ctx), ops.inputs.length > 0);
    const tasks = ranges.map(([begin, end]) => ({
      q: ops.q, k: ops.k, v: ops.v, out, lse, rpe: ops.rpe, kpm: ops.kpm, am: ops.am,
      kvPtr: t.kvPtr, kvIndices: t.kvIndices, qOffset, Bl: L.batches, Hl: L.heads,
      H, Hkv: p.Hkv, N, Nk: p.Nk, kvStride: p.kvStride, D, block, R, causal: p.causal ? 1 : 0, scale: p.scale,
      hg, itemBegin: begin, itemEnd: end, scratch: a.alloc(scratchBytes),
    }));
    const heads = ranges.map(([b, e]): [number, number] => [Math.floor(b / R) * hg, Math.floor((e - 1) / R) * hg + hg - 1]);
    await streamByHead(ctx, p, ops.inputs, heads, (i) => ctx.run('attentionForward', [tasks[i]]), (bh0, bh1) => {
      outputs.takeOut(bh0, bh1);
    });
    return { out: outputs.results()[0], lse: withLse ? a.takeF32(lse, B * H * N) : null };
  } catch (e) {
    outputs.discard();
    throw e;
  }
}

/**
 * The copies into and out of Wasm memory run on the calling thread: streamed by batch·head, so
 * that they overlap the kernels. Batch·head bh's inputs (q, k, v; dout for the backward) go in,
 * then every task whose items end in bh starts; each batch·head's output is taken out as soon as the tasks covering it are done.
 * Between heads the event loop turns, so that workers which finished get their next tasks.
 * `heads[i]` is the first and last batch·head task i reads (tasks are contiguous and in order).
 */
async function streamByHead(
  ctx: CpuContext, p: AttentionProblem<OperandData>, inputs: HostInput[], heads: Array<[number, number]>,
  start: (task: number) => Promise<void>, takeOut: (bh0: number, bh1: number) => void,
): Promise<void> {
  const BH = p.B * p.H;
  const G = groupOf(p);
  const running: Promise<void>[] = [];
  let next = 0;
  for (let bh = 0; bh < BH; bh++) {
    // a kv head goes in with the first query head of its group (bh = (b·Hkv + g)·G)
    for (const x of inputs) if (!x.kv || bh % G === 0) copyHead(ctx, x, x.kv ? bh / G : bh, (x.kv ? p.Nk : p.N) * p.D);
    while (next < heads.length && heads[next][1] <= bh) {
      const run = start(next++);
      run.catch(() => undefined); // awaited below, in order; don't report a rejection twice
      running.push(run);
    }
    // let the pool hand queued tasks to workers that finished while this thread copies on
    if (ctx.threads > 1 && inputs.length > 0 && running.length > 0 && bh + 1 < BH) await yieldToEventLoop();
  }
  let taken = 0;
  try {
    for (let i = 0; i < running.length; i++) {
      await running[i];
      // tasks 0..i are done: every batch·head before the one task i + 1 starts in is complete
      const done = i + 1 < heads.length ? heads[i + 1][0] : BH;
      if (done > taken) {
        takeOut(taken, done);
        taken = done;
      }
    }
  } catch (e) {
    await Promise.allSettled(running); // no task may still write memory the next call reuses
    throw e;
  }
}

/** Copies head `head` (headSize floats) of a host input into its block. */
function copyHead(ctx: CpuContext, x: HostInput, head: number, headSize: number): void {
  const from = head * headSize;
  ctx.arena.f32(x.ptr + from * 4, headSize).set(x.data.subarray(from, from + headSize));
}

export async function attentionBackward(ctx: CpuContext, p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>> {
  // persistent first (tables, then kept outputs), per-call after
  const t = ctx.tables(p.layout);
  const outputs = new Outputs(ctx, p, [false, true, true]);
  try {
    await backward(ctx, p, t, outputs);
    const [dq, dk, dv] = outputs.results();
    return { dq, dk, dv };
  } catch (e) {
    outputs.discard();
    throw e;
  }
}

async function backward(ctx: CpuContext, p: AttentionBackwardProblem<OperandData>, t: LayoutTablePointers, outputs: Outputs): Promise<void> {
  const { B, H, N, D } = p;
  const L: CompiledLayout = p.layout;
  const block = L.block;
  const R = L.rows;
  const C = L.cols;
  const BH = B * H;
  const a = ctx.arena;
  const ops = allocOperands(ctx, p, p.dout);
  const { inputs, dout } = ops;
  const [dq, dk, dv] = outputs.ptrs;
  const causal = p.causal ? 1 : 0;
  const qOffset = a.putI32(p.qOffset);
  const visits = callVisits(p);
  const parts = dynamicTaskCount(ctx, 10 * block * block * D * visits.kept);
  // slots of a batch·head: one per entry of its layout slot (those causal drops stay unused)
  const slotBytes = block * padded(block) * 4;
  const headEntries = (bh: number) => L.slotBlocks[L.slotOf(Math.floor(bh / H), bh % H)];
  const maxHead = L.maxSlotBlocks;
  const rowScratchBytes = backwardRowsScratchFloats(D, block, C) * 4;
  const shape = { H, Hkv: p.Hkv, N, Nk: p.Nk, D, block, R, causal };
  const layoutArgs = { qOffset, Bl: L.batches, Hl: L.heads };

  // whole kv groups (a kv head and its G query heads; G = 1: batch·heads) per task when they
  // share out evenly among the tasks and the tasks' slots fit the budget (one task: any size) and
  // memory; else row items, then column items, which share out finely and keep fewer slots
  const G = groupOf(p);
  const BKV = B * p.Hkv;
  const headTasks = Math.min(parts, BKV);
  const groupSlotBytes = Math.max(4, 2 * G * maxHead * slotBytes);
  const slotBaseOfGroup = Int32Array.from({ length: G }, (_, j) => j * maxHead);
  const evenly = parts === 1 || (BKV >= parts && (BKV % parts === 0 || BKV >= 4 * parts));
  const taskBytes = Array.from({ length: headTasks }, () => [groupSlotBytes, rowScratchBytes]).flat();
  const fits = (parts === 1 || headTasks * groupSlotBytes <= attentionTuning.slotBudgetBytes) &&
    a.fits([visits.readyOrder?.byteLength ?? 0, visits.readyPtr?.byteLength ?? 0, slotBaseOfGroup.byteLength, ...taskBytes]);
  const mode = attentionTuning.backwardSchedule === 'auto' ? (evenly && fits ? 'heads' : 'passes') : attentionTuning.backwardSchedule;
  const rowWeightOf = rowWeight(p, visits);
  if (mode === 'heads') {
    const orderPtr = visits.readyOrder ? a.putI32(visits.readyOrder) : t.readyOrder[causal];
    const ready = visits.readyPtr ? a.putI32(visits.readyPtr) : t.readyPtr[causal];
    const slotBase = a.putI32(slotBaseOfGroup);
    const groupWeight = new Float64Array(BKV + 1);
    const perGroup = new Float64Array(visits.RB * p.Hkv);
    for (let bh = 0; bh < visits.RB * H; bh++) {
      for (let r = 0; r < R; r++) perGroup[Math.floor(bh / G)] += rowWeightOf(bh, r);
    }
    for (let bkv = 0; bkv < BKV; bkv++) groupWeight[bkv + 1] = groupWeight[bkv] + perGroup[bkv % (visits.RB * p.Hkv)];
    const tasks = partitionByWeight(groupWeight, headTasks).map(([begin, end]) => ({
      q: ops.q, k: ops.k, v: ops.v, dout, dq, dk, dv, rpe: ops.rpe, kpm: ops.kpm, am: ops.am,
      kvPtr: t.kvPtr, kvIndices: t.kvIndices, qPtr: t.qPtr, qIndices: t.qIndices, qEntries: t.qEntries, ...layoutArgs,
      order: orderPtr, readyPtr: ready, readyBatches: visits.RB,
      slots: a.alloc(groupSlotBytes), slotsPerHead: maxHead, slotBase,
      ...shape, C, scale: p.scale,
      kvBegin: begin, kvEnd: end, scratch: a.alloc(rowScratchBytes),
    }));
    // tasks own whole groups: stream the copies around them (ranges in query batch·heads)
    const ranges = tasks.map((task) => [task.kvBegin * G, task.kvEnd * G - 1] as [number, number]);
    await streamByHead(ctx, p, inputs, ranges, (i) => ctx.run('attentionBackwardHeads', [tasks[i]]), (bh0, bh1) => {
      outputs.takeOut(bh0, bh1);
    });
    return;
  }
  for (const x of inputs) a.f32(x.ptr, x.data.length).set(x.data);

  // two passes over chunks [bh0, bh1) of query batch·heads: as many whole groups as the slot
  // budget allows (at least one); a group whose slots alone pass it, as chunks of as many of its
  // query heads as it allows (at least one: a head whose slots do not fit in memory is the wall's
  // RangeError, attention-parts.ts's last part), in head order, which the columns pass sums in.
  // The budget is the tuning's or, less, what memory has left once the slot bases and the tasks'
  // scratch are reserved; the chunks only regroup the same kernel steps, so they move no bits.
  // The slot arrays and each task's scratch are allocated once, for the largest chunk.
  const slotBases = a.alloc(BH * 4);
  const reserve = parts * allocatedBytes(rowScratchBytes) + 2 * allocatedBytes(1); // the slot arrays' rounding
  const budget = Math.min(attentionTuning.slotBudgetBytes, a.headroom - reserve);
  const chunks: Array<{ bh0: number; bh1: number }> = [];
  const base = new Int32Array(BH);
  let maxSlots = 0;
  const within = (slots: number) => slots * slotBytes * 2 <= budget;
  const groupEntries = (bh: number) => {
    let n = 0;
    for (let j = 0; j < G; j++) n += headEntries(bh + j);
    return n;
  };
  for (let bh0 = 0; bh0 < BH;) {
    let bh1 = bh0;
    let slots = 0;
    const add = () => {
      base[bh1] = slots;
      slots += headEntries(bh1++);
    };
    if (bh0 % G === 0 && within(groupEntries(bh0))) {
      while (bh1 < BH && (bh1 === bh0 || within(slots + groupEntries(bh1)))) {
        for (let j = 0; j < G; j++) add();
      }
    } else {
      const groupEnd = bh0 - (bh0 % G) + G;
      while (bh1 < groupEnd && (bh1 === bh0 || within(slots + headEntries(bh1)))) add();
    }
    chunks.push({ bh0, bh1 });
    maxSlots = Math.max(maxSlots, slots);
    bh0 = bh1;
  }
  a.i32(slotBases, BH).set(base);
  const pSlots = a.alloc(Math.max(4, maxSlots * slotBytes));
  const dsSlots = a.alloc(Math.max(4, maxSlots * slotBytes));
  const scratch: number[] = [];
  const columnWeightOf = columnWeight(p, visits);
  for (const { bh0, bh1 } of chunks) {
    const slotBase = slotBases + bh0 * 4;
    const rowRanges = splitItems(rowWeightOf, R, bh0, bh1, parts, taskCount(ctx));
    while (scratch.length < rowRanges.length) scratch.push(a.alloc(rowScratchBytes));
    const rowTasks = rowRanges.map(([begin, end], i) => ({
      q: ops.q, k: ops.k, v: ops.v, dout, dq, rpe: ops.rpe, kpm: ops.kpm, am: ops.am,
      kvPtr: t.kvPtr, kvIndices: t.kvIndices, ...layoutArgs,
      pSlots, dsSlots, slotBase, bh0,
      ...shape, scale: p.scale,
      itemBegin: begin, itemEnd: end, scratch: scratch[i],
    }));
    await ctx.run('attentionBackwardRows', rowTasks);
    // column items by kv head: bkv = bh / G over the chunk's groups (or the one group it is part of)
    const colTasks = splitItems(columnWeightOf, C, Math.floor(bh0 / G), Math.ceil(bh1 / G), parts, taskCount(ctx)).map(([begin, end]) => ({
      q: ops.q, dout, dk, dv,
      kvPtr: t.kvPtr, qPtr: t.qPtr, qIndices: t.qIndices, qEntries: t.qEntries, ...layoutArgs,
      pSlots, dsSlots, slotBase, bh0, bh1,
      ...shape, C,
      itemBegin: begin, itemEnd: end,
    }));
    await ctx.run('attentionBackwardColumns', colTasks);
  }
  outputs.takeOut(0, BH);
}
