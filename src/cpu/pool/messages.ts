// What the host and a pool worker say to each other, typed as {type, in, out, err}
// (onnxruntime-web's wasm/proxy-messages.ts). Both pools speak it: piscina carries a request as
// its task and a response as its result; the Web Worker pool posts them itself. Only numbers,
// strings, a WebAssembly.Module and the shared WebAssembly.Memory cross: all structured-cloneable.

/** An error as it crosses a message boundary (Error objects lose their class, and some engines their message). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/**
 * Test-only faults (test/pool.test.ts): after running its task, the worker dies without replying.
 * 'exit': process.exit in Node, self.close() in a Web Worker (no event tells the host).
 * 'uncaught': an exception nobody catches (an 'error' event on the host's side).
 */
export type WorkerFault = 'exit' | 'uncaught';

/** Handed to every worker once, at startup: piscina's workerData, or the Web Worker's first message. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Web Worker pool only: a Web Locks name the worker holds while it lives (see web-pool.ts). */
  lock?: string;
  /** Web Worker pool only: this worker's number, for diagnostics. */
  id?: number;
  /** The pool's task lane (lane.ts), where the host has Atomics.waitAsync. */
  lane?: SharedArrayBuffer;
}

export interface InitRequest {
  type: 'init';
  in: WorkerInit;
}

/** One call of a kernel export with its arguments, positional (src/cpu/kernels.ts's order). */
export interface RunRequest {
  type: 'run';
  /** `pages`: the memory's size on the host as the call was made (the worker refreshes its view below it). */
  in: { kernel: string; args: number[]; pages: number; fault?: WorkerFault };
}

/** Answers once the worker's instance exists; the pools send one to each worker before use. */
export interface PingRequest {
  type: 'ping';
}

export type WorkerRequest = InitRequest | RunRequest | PingRequest;

/**
 * Which worker answered: Node's threadId, or the Web Worker pool's number; for 'run', when the
 * kernel started and ended on the clock all threads share (epochMs).
 */
export interface WorkerResponse {
  type: WorkerRequest['type'];
  out?: { worker: number; locked?: boolean; startMs?: number; endMs?: number };
  err?: SerializedError;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** Back to an Error on the host's side, with the worker's name, message and stack. */
export function deserializeError(e: SerializedError): Error {
  const error = new Error(e.message);
  error.name = e.name;
  if (e.stack) error.stack = e.stack;
  return error;
}

/** "RuntimeError: unreachable", as a stack would start. */
export function describeError(e: SerializedError | unknown): string {
  if (e && typeof e === 'object' && 'message' in e) {
    const { name, message } = e as SerializedError;
    return name && name !== 'Error' ? `${name}: ${message}` : String(message);
  }
  return String(e);
}

/** Milliseconds on a clock every thread of the process shares (each thread's performance.now() has its own origin). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
