// What the CPU backend runs kernels on: inline (one thread) or a worker pool over the same shared
// memory. Both pools share the fan-out and error reporting here.
import type { KernelExports } from '../wasm.js';
import { positionalArgs, type KernelArgs, type KernelName } from '../kernels.js';
import { describeError, deserializeError, epochMs, type WorkerFault, type WorkerRequest, type WorkerResponse } from './messages.js';
import { fail, internal } from '../../errors.js';
import type { TaskLane } from './lane.js';

/**
 * Internal knobs (bench/cpu-timeline.ts sweeps them), read when a pool starts: tasks each worker
 * holds at once, both pools. A worker with a second task in its inbox starts it the moment the
 * first ends, instead of waiting for the calling thread to hear of it and send another.
 */
export const poolTuning = {
  tasksInFlightPerWorker: 2,
};

/** When one task of a kernel ran, and where (worker 0: inline, on the calling thread). */
export interface TaskTiming {
  kernel: string;
  worker: number;
  /** On the clock every thread shares (messages.ts epochMs). */
  startMs: number;
  endMs: number;
}

/** Runs kernels somewhere: inline, or on a pool of workers over the same memory. */
export interface KernelRunner {
  readonly threads: number;
  /** What a call costs beyond its tasks' run time, measured (null inline: nothing). */
  readonly roundTrips: RoundTrips | null;
  /** Told of each task that completes (the backend's kernel timings). */
  onTask?: ((t: TaskTiming) => void) | undefined;
  /**
   * Runs export `kernel` once per task with the task's named arguments (kernels.ts) and settles
   * when every task has finished. Tasks may run concurrently, so they must write disjoint memory.
   */
  run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]): Promise<void>;
  close(): Promise<void>;
}

/** A test-only fault injected into one task of a call (test/pool.test.ts). */
export interface TaskFault {
  task: number;
  kind: WorkerFault;
}

/** The error a failed call rejects with: it names the kernel and says what happened. */
export function kernelError(kernel: string, failures: { task: number; cause: unknown }[], tasks: number, where: string): Error {
  const [first] = failures;
  const which = tasks > 1 ? ` (task ${first.task + 1} of ${tasks}${failures.length > 1 ? `, and ${failures.length - 1} more` : ''})` : '';
  return fail(`kernel '${kernel}' failed ${where}${which}: ${describeError(first.cause)}`, {
    cause: first.cause,
  });
}

/**
 * A pool's cost per call beyond its tasks' run time: sending the tasks, waking the workers, hearing
 * that they ended. It depends on the machine and its load far more than a task's work does
 * (bench/results/README.md), so the pool measures it: at start, then on every call (the call's
 * time less its tasks' span). The estimate is the median of the last calls'.
 */
export class RoundTrips {
  private readonly recent = new Float64Array(15);
  private count = 0;
  private estimate = 0;
  private asks = 0;

  /** The estimate in ms: 0 until the first note. */
  get ms(): number {
    return this.estimate;
  }

  /**
   * True once in 64 asks, once in 8 while fewer notes than the estimate's window came in (the
   * start-up probe's pings after idle milliseconds may read well above a loop's calls). A caller
   * whose work the estimate kept off the pool splits it anyway then, so that the estimate keeps
   * hearing from real calls (one too high would otherwise stand).
   */
  sample(): boolean {
    const every = this.count < this.recent.length ? 8 : 64;
    return this.asks++ % every === every - 1;
  }

  note(ms: number): void {
    if (!Number.isFinite(ms)) return;
    this.recent[this.count++ % this.recent.length] = Math.max(0, ms);
    const kept = this.recent.slice(0, Math.min(this.count, this.recent.length)).sort();
    this.estimate = kept[kept.length >> 1];
  }

  /**
   * Notes the quickest of `times` round trips of `ping` (a request that does no work), each after
   * the workers have idled for a millisecond, as they do between an app's calls. The quickest: an
   * estimate too high would keep small work off the pool, and then no call would correct it; one
   * too low lets the calls that follow correct it.
   */
  async probe(ping: () => Promise<unknown>, times = 5): Promise<void> {
    let quickest = Infinity;
    for (let i = 0; i < times; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const t0 = epochMs();
      await ping();
      quickest = Math.min(quickest, epochMs() - t0);
    }
    this.note(quickest);
  }
}

export class InlineRunner implements KernelRunner {
  readonly threads = 1;
  readonly roundTrips = null;
  onTask?: ((t: TaskTiming) => void) | undefined;
  constructor(private readonly exports: KernelExports) {}

  async run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]): Promise<void> {
    const calls = tasks.map((args) => positionalArgs(kernel, args));
    const fn = this.exports[kernel];
    if (typeof fn !== 'function') throw internal(`no kernel export '${kernel}'`);
    for (let i = 0; i < calls.length; i++) {
      const startMs = epochMs();
      try {
        fn(...calls[i]);
      } catch (cause) {
        throw kernelError(kernel, [{ task: i, cause }], tasks.length, 'on the main thread');
      }
      this.onTask?.({ kernel, worker: 0, startMs, endMs: epochMs() });
    }
  }

  async close(): Promise<void> {}
}

/** How a pool's call reaches its workers: its task lane (null: none), else one message per task. */
export interface PoolPaths {
  lane: TaskLane | null;
  submit: (request: WorkerRequest) => Promise<WorkerResponse | undefined>;
  /** The shared memory the kernels run over: its size goes with each call. */
  memory: WebAssembly.Memory;
}

/**
 * Runs the tasks on the pool and waits for every one of them, failed or not, before settling: a
 * call must not return while a task may still write memory that the next call reuses. Every
 * task's arguments are made positional before the first is sent, so a bad one sends none. The
 * call takes the lane where it is free and no test fault is asked for (or where `path` says);
 * returns the path it took.
 */
export async function fanOut<K extends KernelName>(
  paths: PoolPaths,
  kernel: K,
  tasks: readonly KernelArgs<K>[],
  fault?: TaskFault,
  onTask?: (t: TaskTiming) => void,
  trips?: RoundTrips,
  path?: 'lane' | 'messages',
): Promise<'lane' | 'messages'> {
  const calls = tasks.map((args) => positionalArgs(kernel, args));
  const lane = path === 'messages' || (path === undefined && fault) ? null : paths.lane;
  const byLane = lane !== null && (path === 'lane' || lane.free(kernel, tasks.length));
  const pages = paths.memory.buffer.byteLength / 65536;
  const t0 = epochMs();
  const failures: { task: number; cause: unknown }[] = [];
  const ran: { worker: number; startMs: number; endMs: number }[] = [];
  if (byLane) {
    const result = await lane.run(kernel, calls, pages, fault);
    ran.push(...result.tasks);
    failures.push(...result.failures);
  } else {
    const settled = await Promise.allSettled(
      calls.map((args, i) =>
        paths.submit({ type: 'run', in: fault?.task === i ? { kernel, args, pages, fault: fault.kind } : { kernel, args, pages } }),
      ),
    );
    settled.forEach((s, task) => {
      if (s.status === 'rejected') failures.push({ task, cause: s.reason });
      else if (s.value?.err) failures.push({ task, cause: deserializeError(s.value.err) });
      else if (s.value?.out?.startMs !== undefined) {
        const { worker, startMs, endMs = startMs } = s.value.out;
        ran.push({ worker, startMs, endMs });
      }
    });
  }
  settle(kernel, tasks.length, epochMs() - t0, ran, failures, 'in a pool worker', onTask, trips);
  return byLane ? 'lane' : 'messages';
}

/** Reports a call's tasks, notes its round trip (its time less its tasks' span), or throws its failure. */
function settle(
  kernel: string,
  taskCount: number,
  callMs: number,
  ran: readonly { worker: number; startMs: number; endMs: number }[],
  failures: { task: number; cause: unknown }[],
  where: string,
  onTask?: (t: TaskTiming) => void,
  trips?: RoundTrips,
): void {
  let [first, last] = [Infinity, -Infinity];
  for (const { worker, startMs, endMs } of ran) {
    first = Math.min(first, startMs);
    last = Math.max(last, endMs);
    onTask?.({ kernel, worker, startMs, endMs });
  }
  if (failures.length > 0) throw kernelError(kernel, failures, taskCount, where);
  if (last >= first) trips?.note(callMs - (last - first));
}

/**
 * Resolves after one turn of the event loop, so that a pool's messages are handled: a worker that
 * finished gets its next task even while the calling thread has copying left to do. setImmediate
 * in Node; a MessageChannel elsewhere (nested setTimeout(0) is clamped to 4 ms).
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
