// What an op's host code needs from the CPU backend: the arena, the layout tables already in it,
// and a way to run a kernel over tasks, inline or on the worker pool. Op files (attention.ts,
// matmul.ts, softmax.ts) see only this.
import type { CompiledLayout } from '../layouts/compile.js';
import type { Arena } from './arena.js';
import type { CpuResident } from './resident.js';
import type { KernelArgs, KernelName } from './kernels.js';
import type { RoundTrips } from './pool/runner.js';

/**
 * Byte offsets of a compiled layout's tables in Wasm memory (all Int32, causalKind Uint8), copied
 * by uploadLayoutTables (tables.ts); readiness per causal value, indexed by +causal.
 */
export interface LayoutTablePointers {
  readonly kvPtr: number;
  readonly kvIndices: number;
  readonly qPtr: number;
  readonly qIndices: number;
  readonly qEntries: number;
  readonly causalKind: number;
  readonly readyOrder: readonly [number, number];
  readonly readyPtr: readonly [number, number];
}

export interface CpuContext {
  readonly arena: Arena;
  /** Threads a call may use: split work into at most this many tasks. */
  readonly threads: number;
  /** The pool's measured cost per call beyond its tasks' run time (runner.ts; null inline): streamingTaskCount splits only work that saves more. */
  readonly roundTrips: Pick<RoundTrips, 'ms' | 'sample'> | null;
  /** The layout's tables, uploaded once per layout by the backend before the call began. */
  tables(layout: CompiledLayout): LayoutTablePointers;
  /**
   * Runs the exported kernel `kernel` once per task with the task's named arguments (kernels.ts).
   * Tasks run concurrently when threads > 1, so they must write disjoint memory (own scratch included).
   * `'inline'`: on the calling thread, for work smaller than a pool round trip (tasks.ts runsInline).
   */
  run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[], where?: 'inline'): Promise<void>;
  /**
   * A block of `length` floats that outlives the call (keepOnDevice), wrapped as a resident; only
   * before the call's first per-call allocation. Destroy it if the call fails.
   */
  persist(length: number, rowLength: number): CpuResident;
}
