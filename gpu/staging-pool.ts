/// <reference types="@webgpu/types" />
// Mappable buffers that readbacks copy into, kept for the next readback: creating a MAP_READ buffer
// costs many times what mapping a reused one does (bench/gpu/call-overhead.ts; figures in
// bench/results/issue-17-h200/2026-12-03c), and every op reads back.
// Sizes are powers of two from 256 bytes, so that reads of nearby sizes share buffers; reads past
// `largest` take a buffer of their own (their copy costs more than the creation).
import { padBytes } from './buffers.js';
import { BufferUsage, MapModeRead } from './program.js';

/** Internal knobs (tests): the most bytes held, and the largest buffer kept. */
export const stagingPoolTuning = {
  maxBytes: 64 * 2 ** 20,
  largest: 16 * 2 ** 20,
};

const USAGE = BufferUsage.MAP_READ | BufferUsage.COPY_DST;

/** The size of the staging buffer a read of `bytes` takes. */
export function stagingSize(bytes: number): number {
  const size = Math.max(256, padBytes(bytes));
  return size <= stagingPoolTuning.largest ? 2 ** Math.ceil(Math.log2(size)) : size;
}

export class StagingPool {
  /** Free buffers by size, unmapped. */
  private readonly free = new Map<number, GPUBuffer[]>();
  private heldBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  get bytes(): number {
    return this.heldBytes;
  }

  /** An unmapped MAP_READ | COPY_DST buffer of stagingSize(bytes). */
  take(label: string, bytes: number): GPUBuffer {
    const size = stagingSize(bytes);
    const buffer = this.free.get(size)?.pop();
    if (!buffer) return this.device.createBuffer({ label, size, usage: USAGE });
    this.heldBytes -= size;
    buffer.label = label;
    return buffer;
  }

  /** Keeps an unmapped staging buffer for a later take, or destroys it past the pool's bounds. */
  give(buffer: GPUBuffer): void {
    const { size } = buffer;
    if (buffer.usage !== USAGE || buffer.mapState !== 'unmapped' || size > stagingPoolTuning.largest || this.heldBytes + size > stagingPoolTuning.maxBytes) {
      buffer.destroy();
      return;
    }
    const list = this.free.get(size);
    if (list) list.push(buffer);
    else this.free.set(size, [buffer]);
    this.heldBytes += size;
  }

  /** Destroys every held buffer (on close, and after an out-of-memory error). */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.heldBytes = 0;
  }
}

/**
 * Copies `bytes` of `buffer` (from offset 0) to a staging buffer in a submission of its own and
 * returns them: one readback outside an op's recorder (a resident tensor, a held layout).
 */
export async function readBack(device: GPUDevice, pool: StagingPool, label: string, buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const staging = pool.take(label, bytes);
  try {
    const encoder = device.createCommandEncoder({ label });
    if (bytes > 0) encoder.copyBufferToBuffer(buffer, 0, staging, 0, Math.ceil(bytes / 4) * 4);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MapModeRead);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    pool.give(staging);
    return out;
  } catch (e) {
    staging.destroy();
    throw e;
  }
}
