// A pool's task lane: kernel calls handed to the workers through shared memory instead of
// one message per task. A message costs the calling thread a structured clone going out and an
// event-loop turn coming back, per task, so a call of 16 tasks paid 16 of each before it settled
// (bench/results/README.md); through the lane a call is one notify, and the workers claim its
// tasks from a shared counter as they free up.
//
// One call at a time: a call made while another is on the lane goes by messages (the pool's other
// path, which also carries the start-up pings, test faults and the workers' lifecycle). A worker whose task
// traps writes the error here; one that dies mid-task is found by the calling thread, which checks
// the pool's live threads while it waits, and the call rejects naming the task, as by messages.
import { kernelParameters, type KernelName } from '../kernels.js';
import { deserializeError, epochMs, type WorkerFault } from './messages.js';

const KERNELS = Object.keys(kernelParameters) as KernelName[];
/** KERNEL's value for a call whose tasks do nothing (the round-trip probe). */
const PING = -1;

/** The most tasks, and arguments per task, a call may have to take the lane. */
export const LANE_TASKS = 1024;
const ARGS = 32;
const NAME_CHARS = 64;
const MESSAGE_CHARS = 1024;

// header words
const GEN = 0; // the call's number: workers wait on it
const CLAIM = 1; // (GEN mod 2^16) << 16 | the next task to claim
const DONE = 2; // tasks ended (run, failed, or lost with their worker)
const COUNT = 3;
const KERNEL = 4; // index into KERNELS, or PING
const ARGC = 5;
const FAILED = 6; // first task that failed, + 1
const STOP = 7;
const FAULT = 8; // test-only: the task (+ 1) after which its worker dies
const FAULT_KIND = 9; // 1 'exit', 2 'uncaught'
const NAME_LEN = 10;
const MESSAGE_LEN = 11;
const PAGES = 12; // the memory's size in pages as the call was made (RunRequest's `pages`)
const HEADER = 16;

/** Views of the lane's one SharedArrayBuffer, the same on both sides. */
class LaneViews {
  readonly header: Int32Array;
  /** Per task: the thread that claimed it (0: none yet). */
  readonly worker: Int32Array;
  /** Per task: 1 once it ended on its worker, 2 once its worker was found dead. */
  readonly ended: Int32Array;
  readonly args: Float64Array;
  /** Per task: start and end on the shared clock (messages.ts epochMs). */
  readonly times: Float64Array;
  readonly text: Uint16Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    const at = LaneViews.offsets();
    this.header = new Int32Array(buffer, at.header, HEADER);
    this.worker = new Int32Array(buffer, at.worker, LANE_TASKS);
    this.ended = new Int32Array(buffer, at.ended, LANE_TASKS);
    this.args = new Float64Array(buffer, at.args, LANE_TASKS * ARGS);
    this.times = new Float64Array(buffer, at.times, LANE_TASKS * 2);
    this.text = new Uint16Array(buffer, at.text, NAME_CHARS + MESSAGE_CHARS);
  }

  /** Where each view starts, 8-byte aligned, and the bytes they take in all. */
  static offsets(): Record<'header' | 'worker' | 'ended' | 'args' | 'times' | 'text' | 'bytes', number> {
    let at = 0;
    const take = (bytes: number) => {
      const o = at;
      at += Math.ceil(bytes / 8) * 8;
      return o;
    };
    const header = take(HEADER * 4);
    const worker = take(LANE_TASKS * 4);
    const ended = take(LANE_TASKS * 4);
    const args = take(LANE_TASKS * ARGS * 8);
    const times = take(LANE_TASKS * 2 * 8);
    const text = take((NAME_CHARS + MESSAGE_CHARS) * 2);
    return { header, worker, ended, args, times, text, bytes: at };
  }

  writeError(e: unknown): void {
    const { name, message } = e instanceof Error ? e : { name: 'Error', message: String(e) };
    const put = (s: string, at: number, room: number, len: number) => {
      const n = Math.min(s.length, room);
      for (let i = 0; i < n; i++) this.text[at + i] = s.charCodeAt(i);
      this.header[len] = n;
    };
    put(name, 0, NAME_CHARS, NAME_LEN);
    put(message, NAME_CHARS, MESSAGE_CHARS, MESSAGE_LEN);
  }

  readError(): Error {
    const read = (at: number, len: number) => String.fromCharCode(...this.text.subarray(at, at + this.header[len]!));
    return deserializeError({ name: read(0, NAME_LEN), message: read(NAME_CHARS, MESSAGE_LEN) });
  }
}

/** What a lane call gives back: each task's worker and times, and the tasks that failed. */
export interface LaneResult {
  tasks: { worker: number; startMs: number; endMs: number }[];
  failures: { task: number; cause: Error }[];
}

/** The calling thread's side. */
export class TaskLane {
  private readonly views: LaneViews;
  private busy = false;
  private gen = 0;

  constructor(
    /** The pool's live threads' ids, checked while a call waits (a dead one's task is lost). */
    private readonly liveThreads: () => ReadonlySet<number>,
    /** How often a waiting call checks for dead workers. */
    private readonly checkMs = 50,
  ) {
    this.views = new LaneViews(new SharedArrayBuffer(LaneViews.offsets().bytes));
  }

  /** For the workers (WorkerInit.lane). */
  get buffer(): SharedArrayBuffer {
    return this.views.buffer;
  }

  /** Whether a call of `tasks` tasks of `kernel` can take the lane now. */
  free(kernel: KernelName, tasks: number): boolean {
    const known = Object.prototype.hasOwnProperty.call(kernelParameters, kernel);
    return known && !this.busy && tasks > 0 && tasks <= LANE_TASKS && kernelParameters[kernel].length <= ARGS;
  }

  /** Runs the tasks (positional arguments); settles once every one has ended or was lost. */
  run(kernel: KernelName, calls: readonly number[][], pages: number, fault?: { task: number; kind: WorkerFault }): Promise<LaneResult> {
    return this.call(KERNELS.indexOf(kernel), calls, pages, fault);
  }

  /** A call of `tasks` tasks that do nothing. */
  async ping(tasks = 1): Promise<void> {
    await this.call(PING, Array.from({ length: tasks }, () => []), 0);
  }

  /** Lets the workers' loops end (before the pool terminates them). */
  stop(): void {
    const h = this.views.header;
    Atomics.store(h, STOP, 1);
    Atomics.add(h, GEN, 1);
    Atomics.notify(h, GEN);
  }

  private async call(kernel: number, calls: readonly number[][], pages: number, fault?: { task: number; kind: WorkerFault }): Promise<LaneResult> {
    if (this.busy) throw new Error('blocksparse internal: the task lane is busy');
    this.busy = true;
    const { header: h, worker, ended, args, times } = this.views;
    const n = calls.length;
    // a pending waitAsync does not keep Node's event loop alive, and idle workers are unref'd
    const alive = setInterval(() => {}, 1 << 30);
    try {
      const argc = calls[0]?.length ?? 0;
      for (let i = 0; i < n; i++) {
        args.set(calls[i]!, i * ARGS);
        worker[i] = 0;
        ended[i] = 0;
      }
      h[COUNT] = n;
      h[KERNEL] = kernel;
      h[ARGC] = argc;
      h[PAGES] = pages;
      h[FAILED] = 0;
      h[DONE] = 0;
      h[FAULT] = fault ? fault.task + 1 : 0;
      h[FAULT_KIND] = fault?.kind === 'uncaught' ? 2 : 1;
      this.gen = (this.gen + 1) | 0;
      // the plain writes above are ordered before these: a worker that sees the claim sees them
      Atomics.store(h, CLAIM, ((this.gen & 0xffff) << 16) | 0);
      Atomics.store(h, GEN, this.gen);
      Atomics.notify(h, GEN);
      const lost: number[] = [];
      for (;;) {
        const done = Atomics.load(h, DONE);
        if (done >= n) break;
        const wait = Atomics.waitAsync(h, DONE, done, this.checkMs);
        if (wait.async && (await wait.value) === 'timed-out') lost.push(...this.reapDead(n));
      }
      const result: LaneResult = { tasks: [], failures: [] };
      for (let i = 0; i < n; i++) {
        if (ended[i] === 1) result.tasks.push({ worker: worker[i]!, startMs: times[2 * i]!, endMs: times[2 * i + 1]! });
      }
      const failed = h[FAILED]! - 1;
      if (failed >= 0) result.failures.push({ task: failed, cause: this.views.readError() });
      for (const task of lost) result.failures.push({ task, cause: new Error(`its worker (thread ${worker[task]}) exited`) });
      result.failures.sort((a, b) => a.task - b.task);
      return result;
    } finally {
      clearInterval(alive);
      this.busy = false;
    }
  }

  /** Ends the claimed tasks whose worker is gone; returns them. */
  private reapDead(n: number): number[] {
    const live = this.liveThreads();
    const { header: h, worker, ended } = this.views;
    const lost: number[] = [];
    for (let i = 0; i < n; i++) {
      const w = Atomics.load(worker, i);
      if (w === 0 || live.has(w)) continue;
      if (Atomics.compareExchange(ended, i, 0, 2) !== 0) continue;
      lost.push(i);
      Atomics.add(h, DONE, 1);
    }
    return lost;
  }
}

/**
 * A worker's side: serves the lane until it stops. `run` calls a kernel (it refreshes the
 * worker's view of the memory first); `die` is the test fault. The loop waits asynchronously, so
 * the worker still answers its messages between calls.
 */
export function serveLane(
  buffer: SharedArrayBuffer,
  thread: number,
  run: (kernel: KernelName, args: number[], pages: number) => void,
  die: (kind: WorkerFault) => void,
): Promise<void> {
  const views = new LaneViews(buffer);
  const { header: h, worker, ended, args, times } = views;

  /** Claims and runs call `gen`'s tasks until none is left; false if this worker is to die. */
  const drain = (gen: number): boolean => {
    for (;;) {
      const claim = Atomics.load(h, CLAIM);
      if (claim >>> 16 !== (gen & 0xffff)) return true;
      const task = claim & 0xffff;
      const n = Atomics.load(h, COUNT);
      if (task >= n) return true;
      // read before the claim; valid only if the claim succeeds (the call cannot move on before it)
      const kernel = Atomics.load(h, KERNEL);
      const argc = Atomics.load(h, ARGC);
      const pages = Atomics.load(h, PAGES);
      const fault = Atomics.load(h, FAULT);
      if (Atomics.compareExchange(h, CLAIM, claim, claim + 1) !== claim) continue;
      Atomics.store(worker, task, thread);
      const startMs = epochMs();
      if (kernel !== PING) {
        try {
          run(KERNELS[kernel]!, Array.from(args.subarray(task * ARGS, task * ARGS + argc)), pages);
        } catch (e) {
          if (Atomics.compareExchange(h, FAILED, 0, task + 1) === 0) views.writeError(e);
        }
      }
      times[2 * task] = startMs;
      times[2 * task + 1] = epochMs();
      if (fault === task + 1) {
        die(Atomics.load(h, FAULT_KIND) === 2 ? 'uncaught' : 'exit');
        return false;
      }
      Atomics.store(ended, task, 1);
      if (Atomics.add(h, DONE, 1) + 1 === n) Atomics.notify(h, DONE);
    }
  };

  const loop = async (): Promise<void> => {
    for (;;) {
      const gen = Atomics.load(h, GEN);
      if (Atomics.load(h, STOP)) return;
      if (!drain(gen)) return;
      // No spinning for the next call: it would take the core the calling thread works on between
      // calls wherever the pool has a worker per core (bench/results/README.md).
      const wait = Atomics.waitAsync(h, GEN, gen);
      if (wait.async) await wait.value;
    }
  };
  return loop();
}
