// The worker pool for Deno and browsers: module Web Workers (worker.ts) over the engine's shared
// memory, speaking the same messages as the piscina pool. Web Workers give no 'exit' event, and
// postMessage to a terminated worker does nothing, so this does piscina's bookkeeping itself: a
// worker that errors or ends rejects its in-flight tasks, is replaced, and the pool keeps
// `threads` workers. Only messages, promises and Atomics.waitAsync here: no Atomics.wait, which
// throws on a browser's main thread.
import { deserializeError, type WorkerInit, type WorkerRequest, type WorkerResponse } from './messages.js';
import { fanOut, poolTuning, RoundTrips, type KernelRunner, type TaskFault, type TaskTiming } from './runner.js';
import { TaskLane } from './lane.js';
import type { KernelArgs, KernelName } from '../kernels.js';
import { webLocks } from './locks.js';
import { errors, fail } from '../../errors.js';

/** A worker that has not answered 'init' by then is taken as failed to start. */
const INIT_TIMEOUT_MS = 30_000;

interface Pending {
  request: WorkerRequest;
  resolve(answer: WorkerResponse): void;
  reject(error: Error): void;
}

interface Slot {
  id: number;
  worker: Worker;
  ready: boolean;
  /** Tasks sent and not yet answered, oldest first: the worker runs them one at a time, in order. */
  tasks: Pending[];
  /** Settles the worker's start-up. */
  starting?: { resolve(): void; reject(error: Error): void; timer: ReturnType<typeof setTimeout> };
  /** Aborts our request for the worker's Web Lock (granted when the worker ends). */
  watch?: AbortController;
}

/**
 * The literal `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })` is the
 * form bundlers recognise. From source (Deno running .ts), the file is worker.ts.
 */
function startWorker(name: string): Worker {
  return import.meta.url.endsWith('.ts')
    ? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name });
}

export class WebPoolRunner implements KernelRunner {
  readonly threads: number;
  onTask?: ((t: TaskTiming) => void) | undefined;
  private readonly init: Omit<WorkerInit, 'lock' | 'id'>;
  private readonly slots = new Set<Slot>();
  private readonly queue: Pending[] = [];
  readonly roundTrips = new RoundTrips();
  /** Kernel calls go here when it is free (lane.ts); null where Atomics.waitAsync is missing. */
  private readonly lane: TaskLane | null;
  /** Tasks a worker holds at once (poolTuning), fixed at start. */
  private readonly depth = Math.max(1, poolTuning.tasksInFlightPerWorker);
  /** Lock names are per origin, shared by every tab and worker: make ours unique. */
  private readonly lockPrefix = `blocksparse-pool-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  // from 1: the lane reads thread 0 as a task not yet claimed (a task worker 0 claimed was never
  // reaped when it died: the call hung), and timings read it as the calling thread
  private nextId = 1;
  private closed = false;
  /** Calls that took the lane (tests). */
  laneCalls = 0;
  /** Set when a replacement worker failed to start: piscina too stops restarting then. */
  private startFailure: Error | undefined;

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number) {
    // a lane worker's thread id is its slot's id; one that ended has left the slots
    this.lane = typeof Atomics.waitAsync === 'function' ? new TaskLane(() => new Set([...this.slots].map((s) => s.id))) : null;
    this.init = { module, memory, ...(this.lane ? { lane: this.lane.buffer } : {}) };
    this.threads = threads;
  }

  /** Starts `threads` workers and waits until each has its instance. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number): Promise<WebPoolRunner> {
    const runner = new WebPoolRunner(module, memory, threads);
    try {
      await Promise.all(Array.from({ length: threads }, () => runner.spawn()));
      await runner.roundTrips.probe(() => (runner.lane ? runner.lane.ping() : runner.submit({ type: 'ping' })));
    } catch (e) {
      await runner.close();
      throw fail(`the Web Worker pool did not start (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    return runner;
  }

  /** Live workers, starting ones included: `threads` again once a dead one has been replaced. */
  get workerCount(): number {
    return this.slots.size;
  }

  /** Whether workers' silent ends (self.close(), a crash) are detected: needs Web Locks. */
  get detectsSilentExit(): boolean {
    return webLocks() !== undefined;
  }

  run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]): Promise<void> {
    return this.runWithFault(kernel, tasks);
  }

  /**
   * run() with a test-only fault in one task (test/deno/pool.test.ts), by the path named: the
   * lane where it is free and no fault is asked for, else messages.
   */
  async runWithFault<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[], fault?: TaskFault, path?: 'lane' | 'messages'): Promise<void> {
    if (this.closed) throw errors.poolClosed();
    const took = await fanOut({ lane: this.lane, submit: (request) => this.submit(request), memory: this.init.memory }, kernel, tasks, fault, this.onTask, this.roundTrips, path);
    if (took === 'lane') this.laneCalls++;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lane?.stop();
    const closed = errors.poolClosed();
    for (const slot of [...this.slots]) this.retire(slot, closed);
    for (const pending of this.queue.splice(0)) pending.reject(closed);
  }

  private submit(request: WorkerRequest): Promise<WorkerResponse> {
    return new Promise<WorkerResponse>((resolve, reject) => {
      if (this.closed) return reject(errors.poolClosed());
      if (this.slots.size === 0) return reject(this.noWorkers());
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private noWorkers(): Error {
    return fail(`no pool worker is left${this.startFailure ? ` (a replacement failed to start: ${this.startFailure.message})` : ''}`, {
      cause: this.startFailure,
    });
  }

  /** Gives queued tasks to idle workers first, then to busy ones up to `depth` each. */
  private pump(): void {
    for (let held = 0; held < this.depth; held++) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) return;
        if (!slot.ready || slot.tasks.length !== held) continue;
        const pending = this.queue.shift()!;
        slot.tasks.push(pending);
        slot.worker.postMessage(pending.request);
      }
    }
  }

  private spawn(): Promise<void> {
    const id = this.nextId++;
    const locks = webLocks();
    const lock = locks ? `${this.lockPrefix}-${id}` : undefined;
    return new Promise<void>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = startWorker(`blocksparse-${id}`);
      } catch (e) {
        return reject(e instanceof Error ? e : new Error(String(e)));
      }
      const timer = setTimeout(
        () => this.onEnd(slot, new Error(`a pool worker did not start within ${INIT_TIMEOUT_MS / 1000} s`)),
        INIT_TIMEOUT_MS,
      );
      const slot: Slot = { id, worker, ready: false, tasks: [], starting: { resolve, reject, timer } };
      this.slots.add(slot);
      worker.onmessage = (event: MessageEvent) => this.onAnswer(slot, event.data as WorkerResponse, lock);
      worker.onerror = (event: ErrorEvent) => {
        // Deno ends the whole process on a worker's unhandled error unless it is prevented.
        event.preventDefault();
        this.onEnd(slot, new Error(`the pool worker failed: ${event.message || 'an error while loading or running it'}`));
      };
      worker.onmessageerror = () => this.onEnd(slot, new Error('a message from a pool worker could not be deserialised'));
      const init: WorkerInit = { ...this.init, lock, id };
      worker.postMessage({ type: 'init', in: init } satisfies WorkerRequest);
    });
  }

  private onAnswer(slot: Slot, answer: WorkerResponse, lock: string | undefined): void {
    if (!this.slots.has(slot)) return;
    if (answer.type === 'init') {
      const starting = slot.starting;
      if (!starting) return;
      slot.starting = undefined;
      clearTimeout(starting.timer);
      if (answer.err) {
        this.retire(slot);
        starting.reject(deserializeError(answer.err));
        return;
      }
      if (lock && answer.out?.locked) this.watch(slot, lock);
      slot.ready = true;
      starting.resolve();
      this.pump();
      return;
    }
    slot.tasks.shift()?.resolve(answer);
    this.pump();
  }

  /**
   * The worker holds `lock` for its whole life (worker.ts); our request for it is granted only
   * once the worker has ended, however it ended: the one signal a silent exit gives.
   */
  private watch(slot: Slot, lock: string): void {
    const locks = webLocks();
    if (!locks) return;
    const watch = new AbortController();
    slot.watch = watch;
    locks
      .request(lock, { signal: watch.signal }, () => {
        this.onEnd(slot, new Error('the pool worker ended while running it'));
      })
      .catch(() => undefined); // AbortError: we ended the worker ourselves
  }

  /** A worker errored or ended: reject what it was doing and replace it. */
  private onEnd(slot: Slot, reason: Error): void {
    if (!this.slots.has(slot)) return;
    const wasStarting = slot.starting !== undefined;
    this.retire(slot, reason);
    if (wasStarting || this.closed) return;
    if (this.startFailure) {
      if (this.slots.size === 0) for (const pending of this.queue.splice(0)) pending.reject(this.noWorkers());
      return;
    }
    this.spawn().catch((e: unknown) => {
      this.startFailure = e instanceof Error ? e : new Error(String(e));
      if (this.slots.size === 0) for (const pending of this.queue.splice(0)) pending.reject(this.noWorkers());
    });
  }

  /** Terminates the worker and settles whatever it owed. */
  private retire(slot: Slot, reason?: Error): void {
    this.slots.delete(slot);
    slot.watch?.abort();
    slot.worker.onmessage = null;
    slot.worker.onmessageerror = null;
    // keep preventing error events that may still be queued (Deno would end the process)
    slot.worker.onerror = (event: ErrorEvent) => event.preventDefault();
    slot.worker.terminate();
    if (slot.starting) {
      clearTimeout(slot.starting.timer);
      slot.starting.reject(reason ?? new Error('the pool worker was stopped while starting'));
      slot.starting = undefined;
    }
    for (const task of slot.tasks.splice(0)) task.reject(reason ?? new Error('the pool worker was stopped'));
  }
}
