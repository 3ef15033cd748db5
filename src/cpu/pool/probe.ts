// Can this runtime run the kernels on threads, how many, and on which pool. Every answer comes
// with its reason, for engine.info (onnxruntime-web's wasm-factory.ts does the same).
import type { KernelExports } from '../wasm.js';
import { InlineRunner, type KernelRunner } from './runner.js';

export interface ThreadsSupport {
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
}

export interface RunnerChoice {
  runner: KernelRunner;
  /** Why fewer threads than asked run, for engine.info.fallbacks. */
  note?: string;
}

/** Node, or Bun (which passes for it); not Deno, whose `process` is a compatibility layer. */
const isNode =
  typeof process !== 'undefined' &&
  typeof process.versions?.node === 'string' &&
  typeof (globalThis as { Deno?: unknown }).Deno === 'undefined';

/**
 * Whether a buffer is a SharedArrayBuffer, without naming the global: browsers hide it from pages
 * that are not cross-origin isolated (a bare `instanceof SharedArrayBuffer` throws ReferenceError
 * there), though a shared WebAssembly.Memory still hands one out.
 */
export function isSharedBuffer(buffer: unknown): boolean {
  return Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';
}

/** How long a posted SharedArrayBuffer may take to arrive back on the same thread. */
const PROBE_TIMEOUT_MS = 2000;

/**
 * Posts a shared memory's buffer through a MessageChannel. Checking that SharedArrayBuffer
 * exists is not enough: pages that are not cross-origin isolated can still reach one through a
 * shared WebAssembly.Memory, but posting it throws (microsoft/onnxruntime#21748, #9681).
 */
export async function threadsSupport(): Promise<ThreadsSupport> {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; MessageChannel?: typeof MessageChannel };
  if (g.crossOriginIsolated === false) {
    return {
      ok: false,
      reason: 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    };
  }
  if (!isNode && typeof g.Worker !== 'function') return { ok: false, reason: 'this runtime has no Worker' };
  if (typeof g.MessageChannel !== 'function') return { ok: false, reason: 'this runtime has no MessageChannel' };
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return { ok: false, reason: `shared WebAssembly memory is not available (${String(e)})` };
  }
  const sent = memory.buffer;
  if (!isSharedBuffer(sent)) return { ok: false, reason: 'a shared WebAssembly.Memory did not give a SharedArrayBuffer' };
  const { port1, port2 } = new g.MessageChannel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const received = new Promise<unknown>((resolve, reject) => {
      port2.onmessage = (event) => resolve(event.data);
      port2.onmessageerror = () => reject(new Error('it arrived but could not be deserialised'));
      timer = setTimeout(() => reject(new Error(`it did not arrive within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    });
    port1.postMessage(sent);
    const got = await received;
    // the same memory, not a copy: a write through one is seen through the other
    if (!isSharedBuffer(got)) return { ok: false, reason: 'a posted SharedArrayBuffer arrived as something else' };
    new Uint8Array(got as ArrayBufferLike)[7] = 42;
    if (new Uint8Array(sent)[7] !== 42) return { ok: false, reason: 'a posted SharedArrayBuffer arrived as a copy' };
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `a SharedArrayBuffer cannot be posted to a worker (${e instanceof Error ? e.message : String(e)})` };
  } finally {
    clearTimeout(timer);
    // an open port keeps Node's event loop alive
    port1.close();
    port2.close();
  }
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
    throw new RangeError(`blocksparse internal: threads must be a positive integer, got ${threads}`);
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
