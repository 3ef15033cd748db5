// The CPU backend: AssemblyScript kernels over one WebAssembly.Memory, run inline (threads = 1)
// or on a worker pool sharing that memory. Calls are queued: the arena is per engine, and one call
// owns it at a time.
import type {
  Backend, BackendInfo, AttentionProblem, AttentionBackwardProblem, MatmulProblem, SoftmaxProblem, SoftmaxBackwardProblem, AttentionGradientData,
  OperandData, ResidentData,
} from '../backend.js';
import type { CompiledLayout } from '../layouts/compile.js';
import { Arena } from './arena.js';
import type { CpuContext, LayoutTablePointers } from './context.js';
import { createMemory, instantiate, loadKernelModule, type SimdBuild } from './wasm.js';
import { createRunner, defaultThreads, isSharedBuffer } from './pool/probe.js';
import type { KernelRunner } from './pool/runner.js';

export type { KernelRunner } from './pool/runner.js';
import { attentionForward, attentionBackward } from './attention.js';
import { matmul } from './matmul.js';
import { softmax, softmaxBackward } from './softmax.js';
import { CpuResident, hostData } from './resident.js';

export interface CpuBackendOptions {
  /** Worker threads; 1 runs inline. */
  threads?: number;
  /** Force a SIMD build (tests run both); default: the best one the runtime validates. */
  simd?: SimdBuild | 'auto';
}

/** Layout tables above this many bytes in total evict the whole table cache. */
const TABLE_CACHE_BYTES = 64 * 2 ** 20;

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly info: BackendInfo;
  private readonly arena: Arena;
  private readonly runner: KernelRunner;
  private tableCache = new Map<CompiledLayout, LayoutTablePointers>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Shared with every CpuResident this backend made. */
  private readonly life = { closed: false };

  constructor(arena: Arena, runner: KernelRunner, info: BackendInfo) {
    this.arena = arena;
    this.runner = runner;
    this.info = info;
  }

  /** Serialises calls: each waits for the previous one, whatever its outcome. */
  private call<T>(layout: CompiledLayout, op: (ctx: CpuContext) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      if (this.closed) throw new Error('blocksparse: the engine is closed');
      this.arena.reset();
      this.uploadTables(layout);
      try {
        return await op(this.context());
      } finally {
        this.arena.reset();
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private context(): CpuContext {
    const cache = this.tableCache;
    return {
      arena: this.arena,
      threads: this.runner.threads,
      tables(layout) {
        const t = cache.get(layout);
        if (!t) throw new Error('blocksparse internal: layout tables were not uploaded for this call');
        return t;
      },
      run: (kernel, tasks) => this.runner.run(kernel, tasks),
    };
  }

  private uploadTables(layout: CompiledLayout): void {
    if (this.tableCache.has(layout)) return;
    const bytes = 4 * (layout.kvPtr.length + layout.qPtr.length + 3 * layout.nnz) + layout.nnz + 6 * 64;
    if (this.arena.persistentBytes + bytes > TABLE_CACHE_BYTES) {
      this.tableCache.clear();
      this.arena.resetAll();
    }
    const put = (a: Int32Array) => {
      const ptr = this.arena.allocPersistent(Math.max(4, a.byteLength));
      this.arena.i32(ptr, a.length).set(a);
      return ptr;
    };
    const kindPtr = this.arena.allocPersistent(Math.max(4, layout.nnz));
    new Uint8Array(this.arena.memory.buffer, kindPtr, layout.nnz).set(layout.causalKind);
    this.tableCache.set(layout, {
      kvPtr: put(layout.kvPtr),
      kvIndices: put(layout.kvIndices),
      qPtr: put(layout.qPtr),
      qIndices: put(layout.qIndices),
      qEntries: put(layout.qEntries),
      causalKind: kindPtr,
    });
  }

  async upload(data: Float32Array, rowLength: number): Promise<ResidentData> {
    return new CpuResident(data.slice(), rowLength, this.life);
  }
  /** A result, kept as a resident where the caller asked for that. */
  private keep(data: Float32Array, p: AttentionProblem<OperandData>): OperandData {
    return p.keepOnDevice ? new CpuResident(data, p.D, this.life) : data;
  }
  async attention(p: AttentionProblem<OperandData>): Promise<OperandData> {
    const host: AttentionProblem = { ...p, q: hostData(p.q), k: hostData(p.k), v: hostData(p.v) };
    return this.keep(await this.call(p.layout, (ctx) => attentionForward(ctx, host)), p);
  }
  async attentionBackward(p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>> {
    const host: AttentionBackwardProblem = { ...p, q: hostData(p.q), k: hostData(p.k), v: hostData(p.v), dout: hostData(p.dout) };
    const g = await this.call(p.layout, (ctx) => attentionBackward(ctx, host));
    return { dq: this.keep(g.dq, p), dk: this.keep(g.dk, p), dv: this.keep(g.dv, p) };
  }
  matmul(p: MatmulProblem): Promise<Float32Array> {
    return this.call(p.layout, (ctx) => matmul(ctx, p));
  }
  softmax(p: SoftmaxProblem): Promise<Float32Array> {
    return this.call(p.layout, (ctx) => softmax(ctx, p));
  }
  softmaxBackward(p: SoftmaxBackwardProblem): Promise<Float32Array> {
    return this.call(p.layout, (ctx) => softmaxBackward(ctx, p));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.life.closed = true;
    await this.runner.close();
  }
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
  return new CpuBackend(arena, runner, info);
}
