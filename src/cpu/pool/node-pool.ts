// The Node worker pool: piscina, with `threads` workers for the engine's lifetime, each holding an
// instance of the kernel module over the engine's shared memory (worker.ts).
// piscina already does the hard parts: a worker that errors or exits rejects its in-flight task
// with the reason ("worker exited with code: 70"), is removed and is replaced up to minThreads.
// piscina is imported where it is used, dynamically: this file is reachable from the browser
// bundle (tools/build-browser.mjs), which must load no Node-only module statically.
import type { Piscina } from 'piscina';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './messages.js';
import { deserializeError } from './messages.js';
import { fanOut, poolTuning, RoundTrips, type KernelRunner, type TaskFault, type TaskTiming } from './runner.js';
import { TaskLane } from './lane.js';
import type { KernelArgs, KernelName } from '../kernels.js';
import { errors, fail } from '../../errors.js';

/**
 * dist/src/cpu/pool/worker.js, or worker.ts when this file runs from source: tsx maps a './x.js'
 * specifier to x.ts only for imports made by TypeScript files, and piscina imports from its own.
 */
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('./worker.ts', import.meta.url) : new URL('./worker.js', import.meta.url);

/**
 * Workers inherit the host's execArgv, but Node refuses `--input-type` in a worker ("--input-type
 * can only be used with string input via --eval"), so `node --input-type=module -e ...` could not
 * start a pool. Drop it, and pass execArgv only then: an explicit execArgv is validated more
 * strictly than an inherited one (nodejs/node#25467, #53029).
 */
function workerExecArgv(): string[] | undefined {
  const argv = process.execArgv;
  const at = argv.findIndex((a) => a === '--input-type' || a.startsWith('--input-type='));
  if (at < 0) return undefined;
  return argv.filter((a, i) => !(i === at || (i === at + 1 && argv[at] === '--input-type')));
}

export class NodePoolRunner implements KernelRunner {
  readonly threads: number;
  /** Errors piscina reported outside any task (a worker that failed while idle), for diagnostics. */
  readonly idleErrors: Error[] = [];
  onTask?: ((t: TaskTiming) => void) | undefined;
  private readonly pool: Piscina<WorkerRequest, WorkerResponse | undefined>;
  readonly roundTrips = new RoundTrips();
  /** Kernel calls go here when it is free (lane.ts); null where Atomics.waitAsync is missing. */
  private readonly lane: TaskLane | null;
  private closed = false;
  /** Calls that took the lane (tests). */
  laneCalls = 0;

  private constructor(
    pool: Piscina<WorkerRequest, WorkerResponse | undefined>,
    threads: number,
    lane: TaskLane | null,
    private readonly memory: WebAssembly.Memory,
  ) {
    this.pool = pool;
    this.threads = threads;
    this.lane = lane;
    // piscina emits 'error' for a worker that fails with no task in flight; an EventEmitter with
    // no 'error' listener would throw it at the host instead. The worker is replaced either way.
    pool.on('error', (e: Error) => {
      if (this.idleErrors.length < 16) this.idleErrors.push(e);
    });
  }

  /** Starts the workers and waits until each answers, so a pool that cannot start fails here. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, workerUrl: URL = WORKER_URL): Promise<NodePoolRunner> {
    let pool: Piscina<WorkerRequest, WorkerResponse | undefined> | undefined;
    const live = (): ReadonlySet<number> => new Set(pool?.threads.map((w) => w.threadId));
    const lane = typeof Atomics.waitAsync === 'function' ? new TaskLane(live) : null;
    const workerData: WorkerInit = { module, memory, ...(lane ? { lane: lane.buffer } : {}) };
    const { Piscina } = await import('piscina');
    pool = new Piscina<WorkerRequest, WorkerResponse | undefined>({
      filename: workerUrl.href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Infinity,
      // Each worker holds a second task in its inbox: it starts that one the moment the first
      // ends, instead of waiting for the calling thread to hear of it and send another (with 16
      // workers ending together, that round trip queued up: bench/results/h100/README.md). Tasks run one at a time.
      concurrentTasksPerWorker: poolTuning.tasksInFlightPerWorker,
      // 'sync' parks idle workers in Atomics.wait, which stalls any work a task left unawaited
      // (piscina PR #332); our tasks are long, so the cost of waking on a message is noise.
      atomics: 'disabled',
      recordTiming: false,
      workerData,
      execArgv: workerExecArgv(),
    });
    const runner = new NodePoolRunner(pool, threads, lane, memory);
    try {
      const answers = await Promise.all(Array.from({ length: threads }, () => pool.run({ type: 'ping' })));
      const failed = answers.find((a) => a?.err);
      if (failed?.err) throw deserializeError(failed.err);
      await runner.roundTrips.probe(() => (lane ? lane.ping() : pool!.run({ type: 'ping' })));
    } catch (e) {
      await runner.close();
      throw fail(`the Node worker pool did not start (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    return runner;
  }

  /** Live workers: `threads` again once a dead one has been replaced (tests). */
  get workerCount(): number {
    return this.pool.threads.length;
  }

  run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]): Promise<void> {
    return this.runWithFault(kernel, tasks);
  }

  /**
   * run() with a test-only fault in one task (test/pool.test.ts), by the path named: the lane
   * where it is free and no fault is asked for, else messages.
   */
  async runWithFault<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[], fault?: TaskFault, path?: 'lane' | 'messages'): Promise<void> {
    if (this.closed) throw errors.poolClosed();
    const took = await fanOut({ lane: this.lane, submit: (request) => this.pool.run(request), memory: this.memory }, kernel, tasks, fault, this.onTask, this.roundTrips, path);
    if (took === 'lane') this.laneCalls++;
  }

  /**
   * Terminates every worker now; a task still in flight rejects ("Terminating worker thread").
   * The backend closes its runner only after its last call, so none should be.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lane?.stop();
    await this.pool.destroy();
  }
}
