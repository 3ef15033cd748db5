// What an op's host code needs from the CPU backend: the arena, the layout tables already in it,
// and a way to run a kernel over tasks, inline or on the worker pool. Op files (attention.ts,
// matmul.ts, softmax.ts) see only this.
import type { CompiledLayout } from '../layouts/compile.js';
import type { Arena } from './arena.js';
import type { CpuResident } from './resident.js';

/** Byte offsets of a compiled layout's tables in Wasm memory (all Int32, causalKind Uint8). */
export interface LayoutTablePointers {
  kvPtr: number;
  kvIndices: number;
  qPtr: number;
  qIndices: number;
  qEntries: number;
  causalKind: number;
}

export interface CpuContext {
  readonly arena: Arena;
  /** Threads a call may use: split work into at most this many tasks. */
  readonly threads: number;
  /** The layout's tables, uploaded once per layout by the backend before the call began. */
  tables(layout: CompiledLayout): LayoutTablePointers;
  /**
   * Runs the exported kernel `kernel` once per task with the task's numeric arguments. Tasks run
   * concurrently when threads > 1, so they must write disjoint memory (own scratch included).
   */
  run(kernel: string, tasks: number[][]): Promise<void>;
  /**
   * A block of `length` floats that outlives the call (keepOnDevice), wrapped as a resident; only
   * before the call's first per-call allocation. Destroy it if the call fails.
   */
  persist(length: number, rowLength: number): CpuResident;
}
