// How many threads run the kernels, and on which pool. Whether threads can run at all is asked of
// src/probe.ts; every fallback comes with its reason, for engine.info.
import { isNode, isSharedBuffer, threadsSupport } from '../../probe.js';
import type { KernelExports } from '../wasm.js';
import { InlineRunner, type KernelRunner } from './runner.js';
import { PREFIX } from '../../errors.js';

export interface RunnerChoice {
  runner: KernelRunner;
  /** Why fewer threads than asked run, for engine.info.fallbacks. */
  note?: string;
}

/** Logical cores: os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere. */
export async function defaultThreads(): Promise<number> {
  if (isNode) {
    try {
      const os = await import('node:os');
      const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
      if (Number.isInteger(n) && n >= 1) return n;
    } catch {
      // fall through to navigator
    }
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * The runner for `threads`: inline for one, piscina in Node, Web Workers in Deno and browsers.
 * Where threads cannot run (no posting of shared memory, a pool that fails to start), one thread
 * runs inline and `note` says why. `exports` is the main thread's instance over `memory`.
 */
export async function createRunner(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  exports: KernelExports,
  threads: number,
): Promise<RunnerChoice> {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`${PREFIX}internal: threads must be a positive integer, got ${threads}`);
  }
  if (threads === 1) return { runner: new InlineRunner(exports) };
  const fallback = (why: string): RunnerChoice => ({
    runner: new InlineRunner(exports),
    note: `threads: ${threads} asked, running on 1: ${why}`,
  });
  if (!isSharedBuffer(memory.buffer)) return fallback('the kernels\' memory is not shared');
  const support = await threadsSupport();
  if (!support.ok) return fallback(support.reason ?? 'threads are not supported');
  try {
    if (isNode) {
      const { NodePoolRunner } = await import('./node-pool.js');
      return { runner: await NodePoolRunner.create(module, memory, threads) };
    }
    const { WebPoolRunner } = await import('./web-pool.js');
    return { runner: await WebPoolRunner.create(module, memory, threads) };
  } catch (e) {
    return fallback(e instanceof Error ? e.message : String(e));
  }
}
