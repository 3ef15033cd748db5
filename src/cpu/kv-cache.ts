// A KV cache's memory on the CPU (backend.ts KvCacheData): k and v [B, Hkv, capacity, D], two
// persistent blocks of the kernels' Wasm memory that attention reads in place (kvStride =
// capacity). An append copies only the new tokens, on the backend's queue of calls.
import type { KvCacheData, OperandData } from '../backend.js';
import { internal } from '../errors.js';
import type { Arena } from './arena.js';
import { CpuResident } from './resident.js';

export class CpuKvCache implements KvCacheData {
  constructor(
    readonly k: CpuResident,
    readonly v: CpuResident,
    private readonly arena: Arena,
    private readonly heads: number,
    private readonly capacity: number,
    private readonly D: number,
    /** Runs a step on the backend's queue, in call order. */
    private readonly serial: (step: () => void) => Promise<void>,
  ) {}

  get destroyed(): boolean {
    return this.k.destroyed;
  }

  write(k: OperandData, v: OperandData, at: number, n: number): Promise<void> {
    return this.serial(() => {
      this.copy(k, this.k, at, n);
      this.copy(v, this.v, at, n);
    });
  }

  /** Tokens [B·Hkv][n][D] of `src` into rows at … at + n − 1 of every head of `dst`. */
  private copy(src: OperandData, dst: CpuResident, at: number, n: number): void {
    const { D, heads, capacity } = this;
    const rows = n * D;
    let from: Float32Array;
    if (src instanceof Float32Array) from = src;
    else if (src instanceof CpuResident) from = this.arena.f32(src.pointer, heads * rows);
    else throw internal('the CPU backend got data another backend holds');
    const to = this.arena.f32(dst.pointer, heads * capacity * D);
    for (let h = 0; h < heads; h++) to.set(from.subarray(h * rows, (h + 1) * rows), (h * capacity + at) * D);
  }

  destroy(): void {
    this.k.destroy();
    this.v.destroy();
  }
}
