/// <reference types="@webgpu/types" />
// The WebGPU backend: the Backend interface of src/backend.ts over WGSL kernels, one Program per
// op file. Ops run one at a time (error scopes are per device, and it bounds memory).
import type {
  AttentionBackwardProblem,
  AttentionGradientData,
  AttentionLseData,
  AttentionProblem,
  Backend,
  HostData,
  KvCacheData,
  OperandData,
  ResidentData,
  BackendInfo,
  Float16Op,
  MatmulProblem,
  SoftmaxBackwardProblem,
  SoftmaxProblem,
  SelectBlocksProblem,
  ResidentLayoutData,
} from '../src/backend.js';
import { attentionBackward } from './attention-backward.js';
import type { AttnKernel, TileOverride } from './attention-common.js';
import { attentionForward, attentionForwardWithLse } from './attention-forward.js';
import { backwardInParts, forwardInParts, lseInParts } from '../src/attention-parts.js';
import type { OpTimings } from '../src/backend.js';
import { GpuContext, type KernelTiming } from './context.js';
import { createResidentBuffer, readResidentBuffer } from './resident.js';
import { dds } from './dds.js';
import { GpuKvCache } from './kv-cache.js';
import { acquireDevice, type MatrixSupport, type WebGPUDeviceOptions } from './device.js';
import { dsd } from './dsd.js';
import { sdd } from './sdd.js';
import { selectBlocks, selectBlocksResident } from './select-blocks.js';
import { readBack } from './staging-pool.js';
import { softmaxBackward } from './softmax-backward.js';
import { softmax } from './softmax.js';
import { errors } from '../src/errors.js';
import type { Dtype } from '../src/types.js';
import type { SelectedRows } from '../src/layouts/selected-layout.js';

export type { OpTimings } from '../src/backend.js';
export type { KernelTiming } from './context.js';
export type { AttnKernel, TileOverride } from './attention-common.js';

export interface WebGPUBackendOptions extends WebGPUDeviceOptions {
  /** Forces the attention tiles per kernel (benchmarks and tuning; throws if one does not fit). */
  tileOverrides?: Partial<Record<AttnKernel, TileOverride>>;
  /** A lower buffer wall than the device's (tests of attention in parts, src/attention-parts.ts). */
  bufferLimitBytes?: number;
  /**
   * Kernel times from timestamp queries in lastTimings (default true, where the device has them).
   * They cost a readback of the stamps after the kernels: with false, calls read none, and a call
   * with nothing to read back (keepOnDevice) returns once its work is submitted and checked,
   * without waiting for the kernels (the next readback or op waits for them, in queue order).
   */
  timings?: boolean;
}

export interface WebGPUBackendInfo extends BackendInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  source: string;
  features: string[];
  limits: Record<string, number>;
  subgroups: boolean;
  /** Lanes per subgroup used by the attention row reductions (0: workgroup memory instead). */
  subgroupSize: number;
  timestampQuery: boolean;
  /** The arithmetic behind float16 tensors, and per op (engine.info.float16, float16Ops). */
  float16: string;
  float16Ops: Record<Float16Op, string>;
}

/**
 * What float16 tensors take on this device: with shader-f16, f16 storage (buffers, uploads, KV
 * caches) and f16 loads and stores in the attention kernels, f32 products, softmax and sums;
 * without it, the engine's conversion to float32 at the copies in and out.
 */
function float16Paths(shaderF16: boolean, hint: string, matrix: MatrixSupport): Pick<WebGPUBackendInfo, 'float16' | 'float16Ops'> {
  if (!shaderF16) {
    const why = `converted to float32 at the copies in and out: the adapter has no shader-f16${hint}`;
    return { float16: why, float16Ops: { attention: why, attentionBackward: why, decode: why, kvCache: why } };
  }
  const shaders = 'f16 shaders (shader-f16), f32 accumulation';
  const attention = matrix.available
    ? `subgroup matrices (16×16×16 f16 → f32 on the matrix units, softmax in f32) for self-attention shapes without rpe or masks, D and block multiples of 16; otherwise ${shaders}`
    : `${shaders} (no subgroup matrices: ${matrix.reason})`;
  return {
    float16: matrix.available ? 'f16 storage; subgroup-matrix and f16 shaders, f32 accumulation' : 'f16 storage and f16 shaders (shader-f16), f32 accumulation',
    float16Ops: {
      attention,
      attentionBackward: matrix.available
        ? `subgroup matrices for dQ, dK and dV (P and dS in f16, f32 results) and the recomputed forward, for attention's matrix-unit shapes; otherwise ${shaders}`
        : `${shaders} (no subgroup matrices: ${matrix.reason})`,
      decode: `split-KV ${shaders}`,
      kvCache: 'f16 storage (shader-f16): half the memory',
    },
  };
}

export interface WebGPUBackend extends Backend {
  readonly info: WebGPUBackendInfo;
  /** GPU time of the last op's kernels (timestamp queries), or null where the device has none. */
  readonly lastTimings: OpTimings<KernelTiming> | null;
  /** engine.selectBlocks: the layout [B, Hq, R, C] as its rows that hold a query (gpu/select-blocks.ts). */
  selectBlocks(p: SelectBlocksProblem): Promise<SelectedRows>;
  selectBlocksResident(p: SelectBlocksProblem): Promise<ResidentLayoutData>;
}

export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const acquired = await acquireDevice(options);
  const wallBytes = options.bufferLimitBytes ?? Infinity;
  const limits = { ...acquired.limits, maxStorageBufferBindingSize: Math.min(acquired.limits.maxStorageBufferBindingSize, wallBytes) };
  const ctx = new GpuContext(acquired.device, limits, acquired.timestampQuery, acquired.subgroupSize, options.timings ?? true);
  ctx.matrix = acquired.matrix;
  if (options.tileOverrides) ctx.tileOverrides = { ...options.tileOverrides };
  let closed = false;
  acquired.device.lost.then((info) => {
    if (!closed) ctx.lost = `${info.reason}: ${info.message}`;
  });
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(errors.closed());
    const run = queue.then(f, f);
    queue = run.catch(() => undefined);
    return run;
  };
  // a read waits for the ops queued before it, and keeps out of their error scopes
  ctx.residentReader = (r) => serial(() => readResidentBuffer(ctx.device, ctx.staging, r));
  const shaderF16 = acquired.features.includes('shader-f16');
  const info: WebGPUBackendInfo = {
    ...acquired.adapterInfo,
    source: acquired.source,
    features: acquired.features,
    limits: { ...acquired.limits },
    subgroups: acquired.subgroups,
    subgroupSize: acquired.subgroupSize,
    timestampQuery: acquired.timestampQuery,
    // Dawn for Node hides shader-f16 on NVIDIA unless its toggles are on (EngineOptions.experimentalWebgpu)
    ...float16Paths(shaderF16, acquired.source !== 'navigator.gpu' && !options.experimental ? ' (Dawn for Node offers it on NVIDIA with experimentalWebgpu)' : '', acquired.matrix),
  };
  return {
    name: 'webgpu',
    info,
    storesFloat16: shaderF16,
    get lastTimings() {
      return ctx.lastTimings;
    },
    upload: (data: HostData, rowLength: number): Promise<ResidentData> =>
      serial(async () => {
        ctx.lastTimings = null; // an upload runs no kernel
        ctx.device.pushErrorScope('out-of-memory');
        const buffer = createResidentBuffer(ctx.device, ctx.limits, data, rowLength);
        const oom = await ctx.device.popErrorScope();
        if (oom) {
          buffer.destroy();
          throw errors.gpuUploadFailed(data.length, oom.message);
        }
        return ctx.persist(buffer, data.length, rowLength, data instanceof Uint16Array ? 'float16' : 'float32');
      }),
    createKvCache: (B: number, Hkv: number, D: number, capacity: number, dtype?: Dtype, summaryBlock?: number): Promise<KvCacheData> =>
      GpuKvCache.create(ctx, B, Hkv, D, capacity, serial, dtype, summaryBlock),
    attention: (p: AttentionProblem<OperandData>) =>
      serial(async () => {
        const timings = partTimings(ctx);
        // a layout held here is read whole: the parts would cut a host layout
        const out = p.residentLayout ? await attentionForward(ctx, p) : await forwardInParts(p, (part) => timings.part(attentionForward(ctx, part)));
        timings.finish();
        return out;
      }),
    attentionWithLse: (p: AttentionProblem<OperandData>): Promise<AttentionLseData> =>
      serial(async () => {
        const timings = partTimings(ctx);
        const out = p.residentLayout ? await attentionForwardWithLse(ctx, p) : await lseInParts(p, (part) => timings.part(attentionForwardWithLse(ctx, part)));
        timings.finish();
        return out;
      }),
    attentionBackward: (p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>> =>
      serial(async () => {
        if (p.residentLayout) throw errors.residentLayoutForwardOnly();
        const timings = partTimings(ctx);
        const grads = await backwardInParts(p, (part) => timings.part(attentionBackward(ctx, part)));
        timings.finish();
        return grads;
      }),
    matmul: (p: MatmulProblem) =>
      serial(() => (p.mode === 'sdd' ? sdd(ctx, p) : p.mode === 'dsd' ? dsd(ctx, p) : dds(ctx, p))),
    softmax: (p: SoftmaxProblem) => serial(() => softmax(ctx, p)),
    softmaxBackward: (p: SoftmaxBackwardProblem) => serial(() => softmaxBackward(ctx, p)),
    selectBlocks: (p: SelectBlocksProblem) => serial(() => selectBlocks(ctx, p)),
    selectBlocksResident: (p: SelectBlocksProblem) =>
      serial(() => selectBlocksResident(ctx, p, (b, bytes) => serial(() => readBack(ctx.device, ctx.staging, 'layout readback', b, bytes)))),
    async close() {
      if (closed) return;
      await queue;
      closed = true;
      ctx.life.closed = true;
      ctx.layouts.destroyAll();
      ctx.emptyPools();
      acquired.release();
    },
  };
}

/** The timings of an op made of parts (src/attention-parts.ts): every part's kernels. */
function partTimings(ctx: GpuContext): { part<T>(call: Promise<T>): Promise<T>; finish(): void } {
  const seen: OpTimings<KernelTiming>[] = [];
  return {
    async part(call) {
      const result = await call;
      if (ctx.lastTimings) seen.push(ctx.lastTimings);
      return result;
    },
    finish() {
      if (seen.length < 2) return;
      const kernels = seen.flatMap((t) => t.kernels);
      ctx.lastTimings = { op: seen[0]!.op, kernels, totalMs: kernels.reduce((a, k) => a + k.ms, 0) };
    },
  };
}
