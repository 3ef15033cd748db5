/// <reference types="@webgpu/types" />
// A KV cache's memory on WebGPU (src/backend.ts KvCacheData): k and v [B·Hkv][capacity][D padded
// to vec4], two storage buffers of f32, or of f16 (dtype float16, shader-f16: half the memory),
// that attention binds as they are (kvStride = capacity). An append
// writes only the new tokens: host data through the queue, a DeviceTensor by a buffer copy, on the
// backend's queue of ops so that every later call sees them. With a summary block, the append then
// pools the key blocks it touched again from the keys held, on the device (PoolRowsProgram, the
// program selectBlocks pools keys with: the same bits), into three f32 buffers that selectBlocks'
// scores bind as its pooled keys.
import type { KvCacheData, KvSummaryData, OperandData } from '../src/backend.js';
import { errors } from '../src/errors.js';
import type { Dtype } from '../src/types.js';
import { padColumns, upload } from './buffers.js';
import type { GpuContext } from './context.js';
import { BufferUsage } from './program.js';
import { residentBuffer, type GpuResident } from './resident.js';
import { ALL_ROWS, PoolRowsProgram, SCORE_TILE } from './select-blocks.js';

/**
 * The summaries on WebGPU: mean, min and max, each f32 [B·Hkv][blocks][D] (rows not padded, as
 * selectBlocks' pooled keys), blocks = ceil(capacity / block) padded to the score tile.
 */
export interface GpuKvSummaries extends KvSummaryData {
  readonly mean: GpuResident;
  readonly min: GpuResident;
  readonly max: GpuResident;
}

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
    readonly summaries?: GpuKvSummaries,
  ) {}

  /** Two zeroed buffers of B·Hkv·capacity rows (and the summaries'); rejects where the device cannot bind one. */
  static async create(
    ctx: GpuContext, B: number, Hkv: number, D: number, capacity: number, serial: <T>(f: () => Promise<T>) => Promise<T>, dtype: Dtype = 'float32',
    summaryBlock?: number,
  ): Promise<GpuKvCache> {
    const dp = Math.ceil(D / 4) * 4;
    const bytes = B * Hkv * capacity * dp * (dtype === 'float16' ? 2 : 4);
    const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (bytes > max) throw errors.gpuBufferTooLarge(`a KV cache's k (B·Hkv·capacity·D = ${B * Hkv * capacity * D} floats)`, bytes, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const blocks = summaryBlock === undefined ? 0 : Math.ceil(Math.ceil(capacity / summaryBlock) / SCORE_TILE) * SCORE_TILE;
    const summaryFloats = B * Hkv * blocks * D;
    if (summaryFloats * 4 > max) throw errors.gpuBufferTooLarge(`a KV cache's key summaries (B·Hkv·blocks·D = ${summaryFloats} floats each)`, summaryFloats * 4, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    return serial(async () => {
      const made: GPUBuffer[] = [];
      ctx.device.pushErrorScope('out-of-memory');
      const make = (name: string, size: number, rows = capacity) =>
        made.push(ctx.device.createBuffer({
          label: `kv cache ${name} [${B * Hkv} × ${rows} × ${D}]`,
          size: Math.max(16, size),
          usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
        }));
      for (const name of ['k', 'v']) make(name, bytes);
      if (summaryBlock !== undefined) for (const name of ['key mean', 'key min', 'key max']) make(`${name} per ${summaryBlock}`, summaryFloats * 4, blocks);
      const oom = await ctx.device.popErrorScope();
      if (oom) {
        for (const b of made) b.destroy();
        throw errors.gpuUploadFailed(B * Hkv * capacity * D, oom.message);
      }
      const floats = B * Hkv * capacity * D;
      const [k, v] = made.slice(0, 2).map((b) => ctx.persist(b, floats, D, dtype));
      // a summary buffer reads back whole: one row of a head's blocks·D floats (a multiple of 4)
      const [mean, min, max] = made.slice(2).map((b) => ctx.persist(b, summaryFloats, blocks * D));
      const summaries = summaryBlock === undefined ? undefined : { block: summaryBlock, blocks, mean: mean!, min: min!, max: max! };
      return new GpuKvCache(k!, v!, ctx, B * Hkv, capacity, D, serial, dtype, summaries);
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
      if (this.summaries) await this.summarize(this.summaries, at, n);
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

  /**
   * The summaries of blocks floor(at / block) … of every head, over the keys 0 … at + n − 1 held
   * (every batch row holds as many: one batch row of all the heads, positions from 0).
   */
  private async summarize(s: GpuKvSummaries, at: number, n: number): Promise<void> {
    const { ctx, heads, D } = this;
    const jFirst = Math.floor(at / s.block);
    const jCount = Math.ceil((at + n) / s.block) - jFirst;
    if (jCount <= 0) return;
    const d4 = Math.ceil(D / 4);
    // unmeasured: the append returns once the pass is submitted and checked, and later calls, queued
    // after it, read the summaries it writes
    const rec = ctx.recorder('kv cache summaries', false);
    const pos = rec.own(upload(ctx.device, ctx.limits, 'kv cache summaries length', Int32Array.of(0, at + n)));
    rec.dispatch(
      new PoolRowsProgram(s.block, d4, this.dtype === 'float16', 'all'),
      [this.k.buffer, pos, s.mean.buffer, s.min.buffer, s.max.buffer],
      { heads, blocks: jCount, blkBase: jFirst, blocksPad: s.blocks, n: this.capacity, xBase: 0, bhBase: 0, d: D, d4, posOff: 0, lenOff: 1, rowOff: ALL_ROWS, scale: 1 },
      heads * jCount,
    );
    await rec.run([]);
  }

  destroy(): void {
    this.k.destroy();
    this.v.destroy();
    this.summaries?.mean.destroy();
    this.summaries?.min.destroy();
    this.summaries?.max.destroy();
  }
}
