/// <reference types="@webgpu/types" />
// Every op writes its steps' uniforms into one uniform buffer. Creating and destroying that buffer
// per op cost two WebGPU calls of host time per op (a decode step makes two ops); instead an op
// takes one from here and gives it back when it ends. queue.writeBuffer is ordered with
// submissions, so the next op's values reach the buffer only after the earlier op's passes ran.
import { BufferUsage } from './program.js';

/** Buffers the pool keeps of each size at most (an op holds one while it runs). */
const KEPT_PER_SIZE = 8;

export class UniformPool {
  /** Free buffers by size (bytes). */
  private readonly free = new Map<number, GPUBuffer[]>();

  constructor(private readonly device: GPUDevice) {}

  /** A uniform buffer of at least `bytes`: sizes are powers of two from 256, so ops of similar steps share them. */
  take(label: string, bytes: number): GPUBuffer {
    const size = Math.max(256, 2 ** Math.ceil(Math.log2(bytes)));
    const kept = this.free.get(size)?.pop();
    if (kept) return kept;
    return this.device.createBuffer({ label: `${label} uniforms`, size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
  }

  /** Keeps `buffer` for a later take, or destroys it when enough of its size are kept. */
  give(buffer: GPUBuffer): void {
    const list = this.free.get(buffer.size) ?? [];
    if (list.length >= KEPT_PER_SIZE) {
      buffer.destroy();
      return;
    }
    list.push(buffer);
    this.free.set(buffer.size, list);
  }

  /** Destroys every kept buffer (on close, and after an out-of-memory error). */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }
}
