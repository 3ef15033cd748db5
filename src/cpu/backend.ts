// The CPU backend: AssemblyScript kernels over one WebAssembly.Memory, run inline (threads = 1)
// or on a worker pool sharing that memory. Calls are queued: the arena is per engine, and one call
// owns it at a time.
import type {
  Backend, BackendInfo, AttentionProblem, ResidentLayoutData, AttentionBackwardProblem, MatmulProblem, SoftmaxProblem, SoftmaxBackwardProblem, AttentionGradientData,
  AttentionLseData, KvCacheData, OperandData, ResidentData, OpTimings, SelectBlocksProblem,
} from '../backend.js';
import { CpuKvCache, type CpuKvSummaries } from './kv-cache.js';
import type { Dtype } from '../types.js';
import type { CompiledLayout } from '../layouts/compile.js';
import type { SelectedRows } from '../layouts/selected-layout.js';
import { Arena } from './arena.js';
import type { CpuContext } from './context.js';
import { tableBytes, uploadLayoutTables, type ArenaTables } from './tables.js';
import { createMemory, instantiate, loadKernelModule, type SimdBuild } from './wasm.js';
import { isSharedBuffer } from '../probe.js';
import { createRunner, defaultThreads } from './pool/probe.js';
import { InlineRunner, type KernelRunner, type TaskTiming } from './pool/runner.js';

export type { KernelRunner } from './pool/runner.js';
import { attentionForward, attentionForwardWithLse, attentionBackward } from './attention.js';
import { decodeTuning, takesDecodePath } from './decode.js';
import { makesSelection } from './decode-selected.js';
import { CpuHeldSelection } from './held-selection.js';
import { backwardInParts, forwardInParts, isWall, lseInParts } from '../attention-parts.js';
import { matmul } from './matmul.js';
import { softmax, softmaxBackward } from './softmax.js';
import { selectBlocks } from './select-blocks.js';
import { CpuResident, type ResidentHost } from './resident.js';
import { errors, internal } from '../errors.js';

export interface CpuBackendOptions {
  /** Worker threads; 1 runs inline. */
  threads?: number;
  /** Force a SIMD build (tests run both); default: the best one the runtime validates. */
  simd?: SimdBuild | 'auto';
}

/** Internal knobs, exported for tests. */
export const cpuBackendTuning = {
  /** Layout tables above this many bytes in total evict the whole table cache. */
  tableCacheBytes: 64 * 2 ** 20,
};

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly info: BackendInfo;
  private readonly arena: Arena;
  private readonly runner: KernelRunner;
  /** The calling thread's own instance, for work smaller than a pool round trip (ctx.run's 'inline'). */
  private readonly inline: KernelRunner | null;
  private tableCache = new Map<CompiledLayout, ArenaTables>();
  private cachedTableBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Shared with every CpuResident this backend made. */
  private readonly residents: ResidentHost;
  /** The last call's kernel time: per kernel, its first task's start to its last task's end. */
  lastTimings: OpTimings | null = null;
  /** The last call's tasks, in completion order (bench/cpu-timeline.ts). */
  lastTasks: TaskTiming[] = [];

  constructor(arena: Arena, runner: KernelRunner, info: BackendInfo, inline: KernelRunner | null = null) {
    this.arena = arena;
    this.runner = runner;
    this.inline = runner.threads > 1 ? inline : null;
    this.info = info;
    runner.onTask = (t) => this.lastTasks.push(t);
    if (this.inline) this.inline.onTask = (t) => this.lastTasks.push(t);
    const backend = this;
    this.residents = {
      arena,
      get closed() {
        return backend.closed;
      },
      release: (ptr, bytes) => void this.serial(() => this.arena.freePersistent(ptr, bytes)).catch(() => undefined),
    };
  }

  /** Serialises work on the arena: each waits for the previous one, whatever its outcome. */
  private serial<T>(f: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(async () => {
      if (this.closed) throw errors.closed();
      return f();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private call<T>(name: string, layout: CompiledLayout, op: (ctx: CpuContext) => Promise<T>): Promise<T> {
    return this.timedCall(name, () => this.runPart(layout, op));
  }

  /** One op on the queue, its timings those of every task it ran (all its parts'). */
  private timedCall<T>(name: string, op: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      this.startTimings();
      const result = await op();
      this.lastTimings = kernelTimings(name, this.lastTasks);
      return result;
    });
  }

  /** One whole call's worth of kernels over a fresh per-call region of the arena (null: an op without a layout). */
  private async runPart<T>(layout: CompiledLayout | null, op: (ctx: CpuContext) => Promise<T>): Promise<T> {
    this.arena.reset();
    if (layout) this.uploadTables(layout);
    const tasksBefore = this.lastTasks.length;
    try {
      return await op(this.context());
    } catch (e) {
      // a part that met the memory wall is run again in halves: its tasks are not the op's time
      if (isWall(e)) this.lastTasks.length = tasksBefore;
      throw e;
    } finally {
      this.arena.reset();
    }
  }

  /** A call or an upload starts with no timings: an upload runs no kernel (frees queued here keep them). */
  private startTimings(): void {
    this.lastTasks = [];
    this.lastTimings = null;
  }

  private context(): CpuContext {
    const cache = this.tableCache;
    return {
      arena: this.arena,
      threads: this.runner.threads,
      roundTrips: this.runner.roundTrips,
      tables(layout) {
        const t = cache.get(layout);
        if (!t) throw internal('layout tables were not uploaded for this call');
        return t.pointers;
      },
      run: (kernel, tasks, where) => (where === 'inline' && this.inline ? this.inline : this.runner).run(kernel, tasks),
      persist: (length, rowLength) => new CpuResident(this.arena.allocPersistent(length * 4), length, rowLength, this.residents),
    };
  }

  private uploadTables(layout: CompiledLayout): void {
    if (this.tableCache.has(layout)) return;
    if (this.cachedTableBytes > 0 && this.cachedTableBytes + tableBytes(layout) > cpuBackendTuning.tableCacheBytes) {
      for (const { blocks } of this.tableCache.values()) for (const [ptr, n] of blocks) this.arena.freePersistent(ptr, n);
      this.tableCache.clear();
      this.cachedTableBytes = 0;
    }
    const tables = uploadLayoutTables(this.arena, layout);
    this.tableCache.set(layout, tables);
    this.cachedTableBytes += tables.bytes;
  }

  upload(data: Float32Array, rowLength: number): Promise<ResidentData> {
    return this.serial(() => {
      this.startTimings();
      const r = new CpuResident(this.arena.allocPersistent(data.byteLength), data.length, rowLength, this.residents);
      this.arena.f32(r.pointer, data.length).set(data);
      return r;
    });
  }
  createKvCache(B: number, Hkv: number, D: number, capacity: number, _dtype?: Dtype, summaryBlock?: number): Promise<KvCacheData> {
    return this.serial(() => {
      const made: CpuResident[] = [];
      const alloc = (floats: number, rowLength: number) => {
        const r = new CpuResident(this.arena.allocPersistent(floats * 4), floats, rowLength, this.residents);
        made.push(r);
        return r;
      };
      try {
        const floats = B * Hkv * capacity * D;
        const [k, v] = [alloc(floats, D), alloc(floats, D)];
        let summaries: CpuKvSummaries | undefined;
        if (summaryBlock !== undefined) {
          const blocks = Math.ceil(capacity / summaryBlock);
          const size = B * Hkv * blocks * D;
          summaries = { block: summaryBlock, blocks, mean: alloc(size, D), min: alloc(size, D), max: alloc(size, D) };
        }
        const serial = (step: (ctx: CpuContext) => Promise<void>) => this.serial(() => this.runPart(null, step));
        return new CpuKvCache(k, v, this.arena, B * Hkv, capacity, D, serial, summaries);
      } catch (e) {
        for (const r of made) r.destroy();
        throw e;
      }
    });
  }
  attention(p: AttentionProblem<OperandData>): Promise<OperandData> {
    return this.timedCall('attention', async () => {
      const call = await this.readHeld(p);
      if (call.residentLayout) return this.runPart(null, (ctx) => attentionForward(ctx, call));
      return forwardInParts(call, (part) => this.runPart(forwardTables(part), (ctx) => attentionForward(ctx, part)));
    });
  }
  attentionWithLse(p: AttentionProblem<OperandData>): Promise<AttentionLseData> {
    return this.timedCall('attention', async () => {
      const call = await this.readHeld(p);
      if (call.residentLayout) return this.runPart(null, (ctx) => attentionForwardWithLse(ctx, call));
      return lseInParts(call, (part) => this.runPart(forwardTables(part), (ctx) => attentionForwardWithLse(ctx, part)));
    });
  }

  /**
   * A call over a selection this backend holds, as the forward takes it: as it is where the call
   * makes the selection itself (decode-selected.ts; a decode step, run whole), else with the
   * selection made (on this step of the queue) and compiled into p.layout.
   */
  private async readHeld(p: AttentionProblem<OperandData>): Promise<AttentionProblem<OperandData>> {
    const held = p.residentLayout;
    if (!held) return p;
    if (!(held instanceof CpuHeldSelection)) throw internal('the CPU backend got a layout another backend holds');
    if (makesSelection(p, held)) return p;
    await this.runPart(null, (ctx) => held.make(ctx));
    return { ...p, residentLayout: undefined, layout: held.compiledFor(p) };
  }
  attentionBackward(p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>> {
    return this.timedCall('attentionBackward', () => backwardInParts(p, (part) => this.runPart(part.layout, (ctx) => attentionBackward(ctx, part))));
  }
  matmul(p: MatmulProblem): Promise<Float32Array> {
    return this.call(`matmul ${p.mode}`, p.layout, (ctx) => matmul(ctx, p));
  }
  softmax(p: SoftmaxProblem): Promise<Float32Array> {
    return this.call('softmax', p.layout, (ctx) => softmax(ctx, p));
  }
  softmaxBackward(p: SoftmaxBackwardProblem): Promise<Float32Array> {
    return this.call('softmaxBackward', p.layout, (ctx) => softmaxBackward(ctx, p));
  }
  selectBlocks(p: SelectBlocksProblem): Promise<SelectedRows> {
    return this.timedCall('selectBlocks', () => this.runPart(null, (ctx) => selectBlocks(ctx, p)));
  }
  /**
   * A decode step's selection over a KV cache's summaries, kept to be made by the attention that
   * reads it (held-selection.ts); null for any other: the engine takes selectBlocks' layout.
   */
  selectBlocksResident(p: SelectBlocksProblem): Promise<ResidentLayoutData | null> {
    const cache = p.summaries ? CpuKvCache.holding(p.summaries) : undefined;
    if (!cache || p.Nq > decodeTuning.maxRows) return Promise.resolve(null);
    return this.serial(() => {
      this.startTimings();
      // the selection runs later: q as it is now, host data or a DeviceTensor's
      let q: Float32Array;
      if (p.q instanceof CpuResident) q = this.arena.takeF32(p.q.pointer, p.q.length);
      else if (p.q instanceof Float32Array) q = p.q.slice();
      else throw internal('the CPU backend got data another backend holds');
      return new CpuHeldSelection({ ...p, q }, cache, (step) => this.serial(() => this.runPart(null, step)));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    await this.runner.close();
  }
}

/** The layout whose tables a forward reads: none on the decode path, which copies its rows' columns per call (decode.ts). */
function forwardTables(p: AttentionProblem<OperandData>): CompiledLayout | null {
  return takesDecodePath(p) ? null : p.layout;
}

/**
 * Kernel time on the CPU: the time during which at least one task ran (the union of the tasks'
 * intervals: tasks run concurrently, so a sum of task times would count threads, not time), in
 * all and per kernel (in order of first start); null for a call that ran no kernel.
 */
export function kernelTimings(op: string, tasks: readonly TaskTiming[]): OpTimings | null {
  if (tasks.length === 0) return null;
  const sorted = [...tasks].sort((x, y) => x.startMs - y.startMs);
  const busy = (list: readonly TaskTiming[]): number => {
    let ms = 0;
    let end = -Infinity;
    for (const t of list) {
      if (t.endMs <= end) continue;
      ms += t.endMs - Math.max(t.startMs, end);
      end = t.endMs;
    }
    return ms;
  };
  const names = [...new Set(sorted.map((t) => t.kernel))];
  const kernels = names.map((kernel) => ({ kernel, ms: busy(sorted.filter((t) => t.kernel === kernel)) }));
  return { op, kernels, totalMs: busy(sorted) };
}

export async function createCpuBackend(options: CpuBackendOptions = {}): Promise<CpuBackend> {
  const kernels = await loadKernelModule(options.simd ?? 'auto');
  const memory = createMemory(256); // 16 MiB to start; the arena grows it
  const arena = new Arena(memory);
  const exports = instantiate(kernels.module, memory);
  const threads = options.threads ?? (await defaultThreads());
  const { runner, note } = await createRunner(kernels.module, memory, exports, threads);
  const info: BackendInfo = {
    threads: runner.threads,
    simd: kernels.build,
    sharedMemory: isSharedBuffer(memory.buffer),
    fallbacks: [kernels.note, note].filter((n): n is string => n !== undefined),
  };
  return new CpuBackend(arena, runner, info, new InlineRunner(exports));
}
