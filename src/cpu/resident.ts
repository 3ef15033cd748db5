// Data the CPU backend keeps for engine.upload and keepOnDevice: a persistent block of the kernels'
// Wasm memory (arena.ts), so that later calls read it where it is: no copy in, and with
// keepOnDevice no copy out. Blocks are freed through the backend's queue of calls (never under a
// running one), on destroy(), when the handle is garbage-collected, or all at once on close.
import type { ResidentData } from '../backend.js';
import { errors } from '../errors.js';
import type { Arena } from './arena.js';

/** What a resident needs of its backend. */
export interface ResidentHost {
  readonly arena: Arena;
  readonly closed: boolean;
  /** Frees a block once no queued call can be using it. */
  release(ptr: number, bytes: number): void;
}

// a dropped handle must not keep its block for the engine's lifetime: 32-bit Wasm memory is 4 GiB
const collected = new FinalizationRegistry<{ host: ResidentHost; ptr: number; bytes: number }>(({ host, ptr, bytes }) => {
  if (!host.closed) host.release(ptr, bytes);
});

export class CpuResident implements ResidentData {
  private ptr: number | null;

  constructor(
    ptr: number,
    readonly length: number,
    readonly rowLength: number,
    private readonly host: ResidentHost,
  ) {
    this.ptr = ptr;
    collected.register(this, { host, ptr, bytes: length * 4 }, this);
  }

  get destroyed(): boolean {
    return this.ptr === null || this.host.closed;
  }

  /** Its byte offset in Wasm memory, for the kernels. */
  get pointer(): number {
    if (this.destroyed) throw errors.destroyedBeforeRun();
    return this.ptr!;
  }

  async read(): Promise<Float32Array> {
    return this.host.arena.takeF32(this.pointer, this.length);
  }

  destroy(): void {
    if (this.ptr === null) return;
    collected.unregister(this);
    if (!this.host.closed) this.host.release(this.ptr, this.length * 4);
    this.ptr = null;
  }
}
