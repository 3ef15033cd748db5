/// <reference types="@webgpu/types" />
// A KV cache's memory on WebGPU (src/backend.ts KvCacheData): k and v [B·Hkv][capacity][D padded
// to vec4], two storage buffers of f32, or of f16 (dtype float16, shader-f16: half the memory),
// that attention binds as they are (kvStride = capacity). An append
// writes only the new tokens: host data through the queue, a DeviceTensor by a buffer copy, on the
// backend's queue of ops so that every later call sees them.
import type { KvCacheData, OperandData } from '../src/backend.js';
import { errors } from '../src/errors.js';
import type { Dtype } from '../src/types.js';
import { padColumns } from './buffers.js';
import type { GpuContext } from './context.js';
import { BufferUsage } from './program.js';
import { residentBuffer, type GpuResident } from './resident.js';

export class GpuKvCache implements KvCacheData {
  private constructor(
    readonly k: GpuResident,
    readonly v: GpuResident,
    private readonly ctx: GpuContext,
    private readonly heads: number,
    private readonly capacity: number,
    private readonly D: number,
    private readonly serial: <T>(f: () => Promise<T>) => Promise<T>,
    readonly dtype: Dtype,
  ) {}

  /** Two zeroed buffers of B·Hkv·capacity rows; rejects where the device cannot bind one. */
  static async create(
    ctx: GpuContext, B: number, Hkv: number, D: number, capacity: number, serial: <T>(f: () => Promise<T>) => Promise<T>, dtype: Dtype = 'float32',
  ): Promise<GpuKvCache> {
    const dp = Math.ceil(D / 4) * 4;
    const bytes = B * Hkv * capacity * dp * (dtype === 'float16' ? 2 : 4);
    const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (bytes > max) throw errors.gpuBufferTooLarge(`a KV cache's k (B·Hkv·capacity·D = ${B * Hkv * capacity * D} floats)`, bytes, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    return serial(async () => {
      const made: GPUBuffer[] = [];
      ctx.device.pushErrorScope('out-of-memory');
      for (const name of ['k', 'v']) {
        made.push(ctx.device.createBuffer({
          label: `kv cache ${name} [${B * Hkv} × ${capacity} × ${D}]`,
          size: bytes,
          usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
        }));
      }
      const oom = await ctx.device.popErrorScope();
      if (oom) {
        for (const b of made) b.destroy();
        throw errors.gpuUploadFailed(B * Hkv * capacity * D, oom.message);
      }
      const floats = B * Hkv * capacity * D;
      const [k, v] = made.map((b) => ctx.persist(b, floats, D, dtype));
      return new GpuKvCache(k, v, ctx, B * Hkv, capacity, D, serial, dtype);
    });
  }

  get destroyed(): boolean {
    return this.k.destroyed;
  }

  write(k: OperandData, v: OperandData, at: number, n: number): Promise<void> {
    return this.serial(async () => {
      const encoder = this.ctx.device.createCommandEncoder({ label: 'kv cache append' });
      this.copy(encoder, k, this.k.buffer, at, n);
      this.copy(encoder, v, this.v.buffer, at, n);
      this.ctx.device.queue.submit([encoder.finish()]);
    });
  }

  /** Tokens [heads][n][D] of `src` into rows at … at + n − 1 of every head of `dst`. */
  private copy(encoder: GPUCommandEncoder, src: OperandData, dst: GPUBuffer, at: number, n: number): void {
    const dp = Math.ceil(this.D / 4) * 4;
    const rowBytes = dp * (this.dtype === 'float16' ? 2 : 4);
    const headBytes = n * rowBytes;
    const device = residentBuffer(src);
    if (device) {
      for (let h = 0; h < this.heads; h++) {
        encoder.copyBufferToBuffer(device, h * headBytes, dst, (h * this.capacity + at) * rowBytes, headBytes);
      }
      return;
    }
    // host data of the cache's dtype (the engine checks it): float32 values or half-float bits
    const padded = padColumns(src as Float32Array | Uint16Array, this.heads * n, this.D, dp) as Float32Array<ArrayBuffer> | Uint16Array<ArrayBuffer>;
    // one write per head: the new rows of a head are contiguous, the heads are capacity rows apart
    for (let h = 0; h < this.heads; h++) {
      this.ctx.device.queue.writeBuffer(dst, (h * this.capacity + at) * rowBytes, padded, h * n * dp, n * dp);
    }
  }

  destroy(): void {
    this.k.destroy();
    this.v.destroy();
  }
}
