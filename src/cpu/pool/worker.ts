// The pool worker, one file for both pools. Each worker instantiates the kernel module once, over
// the engine's shared memory, and then runs one kernel call per request.
// - Node (piscina): piscina imports this file and calls its default export with each task; the
//   module and memory come in workerData.
// - Deno and browsers (web-pool.ts): a module Web Worker; the first message is 'init'.
// No static `node:` import here: browsers load this file as it is.
import { instantiate, type KernelExports } from '../wasm.js';
import {
  serializeError,
  type RunRequest,
  type WorkerFault,
  type WorkerInit,
  type WorkerRequest,
  type WorkerResponse,
  epochMs,
} from './messages.js';
import { webLocks } from './locks.js';
import { serveLane } from './lane.js';
import { internal } from '../../errors.js';

interface WebWorkerScope {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

const WorkerGlobal = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
const webScope: WebWorkerScope | undefined =
  typeof WorkerGlobal === 'function' && globalThis instanceof WorkerGlobal ? (globalThis as unknown as WebWorkerScope) : undefined;

let memory: WebAssembly.Memory | undefined;
let kernels: KernelExports | undefined;
let workerId = 0;

function init(data: WorkerInit): void {
  memory = data.memory;
  kernels = instantiate(data.module, data.memory);
  if (data.id !== undefined) workerId = data.id;
}

/** The memory's size in pages at the last refresh of this worker's view of it. */
let pagesSeen = 0;

function runKernel({ kernel, args, pages }: Pick<RunRequest['in'], 'kernel' | 'args' | 'pages'>): void {
  if (!kernels || !memory) throw internal('the pool worker was not initialised');
  const fn = kernels[kernel];
  if (typeof fn !== 'function') throw internal(`no kernel export '${kernel}'`);
  // The host may have grown the memory since the last task. Wasm code sees the same Memory, but
  // some engines show another thread's growth only after this thread calls grow itself
  // (emscripten#8287); grow(0) refreshes it. Only after a growth: V8 answers every grow of a shared
  // memory, grow(0) too, by interrupting each thread that shares it, so a grow per task costs every
  // task running beside it (bench/results/README.md). Kernels keep no JS views, so nothing else is stale.
  if (pages > pagesSeen) {
    memory.grow(0);
    pagesSeen = pages;
  }
  fn(...args);
}

/** Serves the pool's task lane (lane.ts), where it has one, beside this worker's messages. */
function joinLane(data: WorkerInit): void {
  if (data.lane) void serveLane(data.lane, workerId, (kernel, args, pages) => runKernel({ kernel, args, pages }), die);
}

/** Test-only: die without answering, the way a crashed worker would. */
function die(fault: WorkerFault): void {
  if (fault === 'uncaught') {
    setTimeout(() => {
      throw new Error('blocksparse diagnostic: uncaught error in a pool worker');
    }, 0);
    return;
  }
  if (webScope) webScope.close();
  else process.exit(70);
}

/** Answers a request; undefined when the worker is to die without answering. */
function handle(request: WorkerRequest): WorkerResponse | undefined {
  try {
    switch (request.type) {
      case 'init':
        init(request.in);
        return { type: 'init', out: { worker: workerId } };
      case 'ping':
        if (!kernels) throw internal('the pool worker was not initialised');
        return { type: 'ping', out: { worker: workerId } };
      case 'run': {
        const startMs = epochMs();
        runKernel(request.in);
        const endMs = epochMs();
        if (request.in.fault) {
          die(request.in.fault);
          return undefined;
        }
        return { type: 'run', out: { worker: workerId, startMs, endMs } };
      }
      default:
        throw internal(`unknown pool message type '${(request as { type?: unknown }).type}'`);
    }
  } catch (e) {
    return { type: request.type, err: serializeError(e) };
  }
}

/**
 * Web Workers: the host learns of this worker's death (self.close(), a crash) from no event; it
 * does learn when a Web Lock this worker holds is released, which happens when the worker ends.
 * So answer 'init' only once the lock is held, and hold it forever.
 */
function initWebWorker(scope: WebWorkerScope, data: WorkerInit): void {
  const answer = handle({ type: 'init', in: data });
  if (!answer?.err) joinLane(data);
  const locks = webLocks();
  if (answer?.err || !data.lock || !locks) {
    scope.postMessage(answer);
    return;
  }
  locks
    .request(data.lock, () => {
      scope.postMessage({ type: 'init', out: { worker: workerId, locked: true } } satisfies WorkerResponse);
      return new Promise<never>(() => {});
    })
    .catch((e: unknown) => scope.postMessage({ type: 'init', err: serializeError(e) } satisfies WorkerResponse));
}

let nodeReady: Promise<void> | undefined;

if (webScope) {
  // Set synchronously, at the top level: messages sent before the module has run are queued until then.
  webScope.onmessage = (event: MessageEvent) => {
    const request = event.data as WorkerRequest;
    if (request?.type === 'init') {
      initWebWorker(webScope, request.in);
      return;
    }
    const answer = handle(request);
    if (answer) webScope.postMessage(answer);
  };
} else if (typeof process !== 'undefined' && typeof process.versions?.node === 'string') {
  // Under piscina: instantiate at startup, from workerData. A dynamic import keeps this file
  // loadable in browsers; requests wait for it.
  nodeReady = import('node:worker_threads').then(({ workerData, threadId }) => {
    workerId = threadId;
    if (!workerData) return;
    const data = workerData as WorkerInit;
    init(data);
    joinLane(data);
  });
  // An init failure is reported by every request (below), not as an unhandled rejection.
  nodeReady.catch(() => undefined);
}

/** piscina's task handler. */
export default async function piscinaTask(request: WorkerRequest): Promise<WorkerResponse | undefined> {
  try {
    await nodeReady;
  } catch (e) {
    return { type: request.type, err: serializeError(e) };
  }
  const answer = handle(request);
  // A dying worker never settles its task, as a crash would not: piscina rejects it on 'exit'.
  if (!answer) return new Promise<never>(() => {});
  return answer;
}
