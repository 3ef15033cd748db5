// A selection the CPU backend keeps (selectBlocks with keepOnDevice over a KV cache's key
// summaries, a decode step's few query rows): it is made by the attention that reads it, in the
// same call (decode-selected.ts), so a decode step runs one pool call and one pass of host work
// instead of two. Until then it holds the selection's problem, with its own copy of q; the cache
// makes every selection still waiting over it first before any write changes the summaries (and
// before its memory is freed), and read(), an attention that cannot take it in the same call and
// the backward make it on their own: the bytes are always those selectBlocks gives for the
// arguments and cache contents of the call that asked.
import { keptPerRowBound, type ResidentLayoutData, type SelectBlocksProblem } from '../backend.js';
import { errors, internal } from '../errors.js';
import { compileLayout, type CompiledLayout } from '../layouts/compile.js';
import { fitLayout } from '../layouts/fit.js';
import { selectedLayout, type SelectedRows } from '../layouts/selected-layout.js';
import type { BatchedLayout } from '../types.js';
import type { CpuContext } from './context.js';
import { selectBlocks } from './select-blocks.js';

/** Where a held selection's waiting is kept: the cache whose summaries it reads. */
export interface SelectionHolder {
  readonly waiting: Set<CpuHeldSelection>;
}

export class CpuHeldSelection implements ResidentLayoutData {
  readonly block: number;
  readonly shape: readonly [number, number, number, number];
  readonly maxRowBlocks: number;
  private made: SelectedRows | null = null;
  private failure: unknown = null;
  private alive = true;
  /** The rows as one layout object (compiledFor). */
  private layout: BatchedLayout | null = null;

  constructor(
    /** The selection's problem, q a copy of the caller's (the selection runs later). */
    readonly problem: SelectBlocksProblem,
    readonly holder: SelectionHolder,
    /** Runs a step on the backend's queue (read() makes a waiting selection there). */
    private readonly serial: <T>(step: (ctx: CpuContext) => Promise<T>) => Promise<T>,
  ) {
    const { B, Hq, R, C, block } = problem;
    this.block = block;
    this.shape = [B, Hq, R, C];
    this.maxRowBlocks = keptPerRowBound(problem) ?? C;
    holder.waiting.add(this);
  }

  get destroyed(): boolean {
    return !this.alive;
  }

  /** Whether the selection is still to be made (the next attention over its cache may make it). */
  get waiting(): boolean {
    return this.alive && this.made === null && this.failure === null;
  }

  /** The selection made in an attention's call (decode-selected.ts). */
  settle(rows: SelectedRows): void {
    this.made = rows;
    this.holder.waiting.delete(this);
  }

  /** Makes the selection on this call's context (a step already on the backend's queue), once. */
  async make(ctx: CpuContext): Promise<SelectedRows> {
    if (this.made) return this.made;
    if (this.failure !== null) throw this.failure;
    if (!this.alive) throw errors.destroyedDeviceLayout('layout');
    try {
      this.settle(await selectBlocks(ctx, this.problem));
    } catch (e) {
      this.failure = e;
      this.holder.waiting.delete(this);
      throw e;
    }
    return this.made!;
  }

  /** The rows, made on the queue if they are still waiting (never from a step already on it: make). */
  rows(): Promise<SelectedRows> {
    if (this.made) return Promise.resolve(this.made);
    if (this.failure !== null) return Promise.reject(this.failure);
    return this.serial((ctx) => this.make(ctx));
  }

  /**
   * The layout a call of H heads over block rows ceil((max qOffset + N) / block) and Nk keys reads,
   * compiled, once the selection is made (the engine checked the shapes against the call:
   * heldLayoutStandIn); its fits and tables are cached with the one layout object (fit.ts, compile.ts).
   */
  compiledFor(p: { H: number; N: number; Nk: number; qOffset: Int32Array }): CompiledLayout {
    if (!this.made) throw internal('a held selection compiled before it was made');
    this.layout ??= selectedLayout(this.made);
    const R = Math.ceil((Math.max(...p.qOffset) + p.N) / this.block);
    return compileLayout(fitLayout(this.layout, p.H, R, Math.ceil(p.Nk / this.block)));
  }

  async read(): Promise<Uint8Array> {
    return (await this.rows()).toDense();
  }

  destroy(): void {
    this.alive = false;
    this.layout = null;
    this.holder.waiting.delete(this);
  }
}
