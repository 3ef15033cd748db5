// The part of the Web Locks API (navigator.locks) the Web Worker pool uses to learn that a worker
// has ended: browsers and Deno have it; Deno's types and older DOM typings lack it.

export interface WebLocks {
  request(name: string, callback: () => unknown): Promise<unknown>;
  request(name: string, options: { signal?: AbortSignal }, callback: () => unknown): Promise<unknown>;
}

export function webLocks(): WebLocks | undefined {
  const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}
