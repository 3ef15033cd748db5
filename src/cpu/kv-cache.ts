// A KV cache's memory on the CPU (backend.ts KvCacheData): k and v [B, Hkv, capacity, D], two
// persistent blocks of the kernels' Wasm memory that attention reads in place (kvStride =
// capacity). An append copies only the new tokens, on the backend's queue of calls; with a summary
// block it then pools the key blocks it touched again (assembly/block-pooling.ts, the kernel
// selectBlocks pools keys with), from the keys held.
import type { KvCacheData, KvSummaryData, OperandData } from '../backend.js';
import { internal } from '../errors.js';
import type { Arena } from './arena.js';
import type { CpuContext } from './context.js';
import type { CpuHeldSelection, SelectionHolder } from './held-selection.js';
import { CpuResident } from './resident.js';
import { dynamicTaskCount, partitionEvenly, runsInline } from './tasks.js';

/** The summaries' memory on the CPU: three persistent blocks of [B·Hkv, blocks, D] floats. */
export interface CpuKvSummaries extends KvSummaryData {
  readonly mean: CpuResident;
  readonly min: CpuResident;
  readonly max: CpuResident;
}

/** Each cache by its summaries (a selection's problem carries the summaries it reads). */
const bySummaries = new WeakMap<CpuKvSummaries, CpuKvCache>();

export class CpuKvCache implements KvCacheData, SelectionHolder {
  /** Selections over these summaries still to be made (held-selection.ts): made before a write changes them. */
  readonly waiting = new Set<CpuHeldSelection>();

  /** The cache whose summaries these are, if they are this backend's. */
  static holding(summaries: KvSummaryData): CpuKvCache | undefined {
    return bySummaries.get(summaries as CpuKvSummaries);
  }

  constructor(
    readonly k: CpuResident,
    readonly v: CpuResident,
    private readonly arena: Arena,
    private readonly heads: number,
    private readonly capacity: number,
    private readonly D: number,
    /** Runs a step on the backend's queue, in call order, with the kernels at hand. */
    private readonly serial: (step: (ctx: CpuContext) => Promise<void>) => Promise<void>,
    readonly summaries?: CpuKvSummaries,
  ) {
    if (summaries) bySummaries.set(summaries, this);
  }

  private dead = false;

  get destroyed(): boolean {
    return this.dead || this.k.destroyed;
  }

  write(k: OperandData, v: OperandData, at: number, n: number): Promise<void> {
    return this.serial(async (ctx) => {
      await this.makeWaiting(ctx);
      this.copy(k, this.k, at, n);
      this.copy(v, this.v, at, n);
      if (this.summaries) await this.summarize(ctx, this.summaries, at, n);
    });
  }

  /** Tokens [B·Hkv][n][D] of `src` into rows at … at + n − 1 of every head of `dst`. */
  private copy(src: OperandData, dst: CpuResident, at: number, n: number): void {
    const { D, heads, capacity } = this;
    const rows = n * D;
    let from: Float32Array;
    if (src instanceof Float32Array) from = src;
    else if (src instanceof CpuResident) from = this.arena.f32(src.pointer, heads * rows);
    else throw internal('the CPU backend got data another backend holds');
    const to = this.arena.f32(dst.pointer, heads * capacity * D);
    for (let h = 0; h < heads; h++) to.set(from.subarray(h * rows, (h + 1) * rows), (h * capacity + at) * D);
  }

  /** The summaries of blocks floor(at / block) … of every head, over the keys 0 … at + n − 1 held. */
  private async summarize(ctx: CpuContext, s: CpuKvSummaries, at: number, n: number): Promise<void> {
    const { heads, capacity, D } = this;
    const jFirst = Math.floor(at / s.block);
    const jCount = Math.ceil((at + n) / s.block) - jFirst;
    const shift = ctx.arena.putI32(Int32Array.of(0));
    const limit = ctx.arena.putI32(Int32Array.of(at + n));
    const work = heads * (at + n - jFirst * s.block) * D * 3;
    const inline = runsInline(work); // a one-token append touches one block per head: microseconds
    const ranges = partitionEvenly(heads * jCount, inline ? 1 : dynamicTaskCount(ctx, work));
    await ctx.run('poolBlocks', ranges.map(([itemBegin, itemEnd]) => ({
      src: this.k.pointer, mean: s.mean.pointer, lo: s.min.pointer, hi: s.max.pointer, shift, limit,
      heads, rows: capacity, D, block: s.block, blocks: s.blocks, jFirst, jCount, itemBegin, itemEnd,
    })), inline ? 'inline' : undefined);
  }

  /** Makes the selections still waiting over the summaries as they are now. */
  private async makeWaiting(ctx: CpuContext): Promise<void> {
    // a failed one keeps its error for the calls that read it; the write goes on
    for (const s of [...this.waiting]) await s.make(ctx).catch(() => undefined);
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    const free = () => {
      this.k.destroy();
      this.v.destroy();
      this.summaries?.mean.destroy();
      this.summaries?.min.destroy();
      this.summaries?.max.destroy();
    };
    // selections still waiting are made from the memory as it is, on the queue, before it is freed
    if (this.waiting.size > 0) void this.serial((ctx) => this.makeWaiting(ctx)).catch(() => undefined).finally(free);
    else free();
  }
}
