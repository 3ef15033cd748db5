/// <reference types="@webgpu/types" />
// Storage buffers an op gives up (its outputs and temporaries, a destroyed DeviceTensor) wait here
// for the next op that needs one of the same size, instead of being destroyed: allocating, clearing
// and freeing a fresh buffer costs many times a clear of a reused one (bench/gpu/transfers.ts;
// bench/results/h100/README.md). A reused buffer is cleared before the op's passes,
// so an op sees zeros as in a fresh one.
import { createOutput, padBytes, type DeviceLimits } from './buffers.js';
import { BufferUsage } from './program.js';

/** Internal knobs (tests): the most bytes the pool holds; buffers given beyond it are destroyed. */
export const bufferPoolTuning = {
  maxBytes: 512 * 2 ** 20,
};

/** Every pooled buffer has this usage, so that any op's output can take any of them. */
export const POOL_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export class BufferPool {
  /** Free buffers by size (bytes), most recently given last. */
  private readonly free = new Map<number, GPUBuffer[]>();
  private heldBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: DeviceLimits,
  ) {}

  get bytes(): number {
    return this.heldBytes;
  }

  /** A storage buffer of at least `bytes` (padded as createOutput pads); `reused` when it must be cleared. */
  take(label: string, bytes: number): { buffer: GPUBuffer; reused: boolean } {
    const list = this.free.get(padBytes(bytes));
    const buffer = list?.pop();
    if (!buffer) return { buffer: createOutput(this.device, this.limits, label, bytes, BufferUsage.COPY_DST), reused: false };
    this.heldBytes -= buffer.size;
    buffer.label = label;
    return { buffer, reused: true };
  }

  /** Keeps `buffer` for a later take, or destroys it when it is not a pool buffer or the pool is full. */
  give(buffer: GPUBuffer): void {
    if (buffer.usage !== POOL_USAGE || buffer.size % 16 !== 0 || this.heldBytes + buffer.size > bufferPoolTuning.maxBytes) {
      buffer.destroy();
      return;
    }
    const list = this.free.get(buffer.size);
    if (list) list.push(buffer);
    else this.free.set(buffer.size, [buffer]);
    this.heldBytes += buffer.size;
  }

  /** Destroys every pooled buffer (on close, and after an out-of-memory error). */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.heldBytes = 0;
  }
}
