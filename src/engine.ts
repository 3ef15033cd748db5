// createEngine: picks a backend, then every call goes API → validation → compiled layout →
// backend. A bad call rejects before dispatch and leaves the engine usable.
import type { Backend, BackendInfo, Float16Op, OperandData, ResidentLayoutData } from './backend.js';
import { DeviceTensorHandle } from './device-tensor.js';
import { errors, withoutPrefix } from './errors.js';
import { attentionBackwardProblem, attentionProblem, matmulProblem, softmaxBackwardProblem, softmaxProblem } from './problems.js';
import type {
  AttentionArgs, AttentionBackwardArgs, AttentionMassArgs, BatchedLayout, DeviceLayout, SelectBlocksArgs, AttentionGradients, AttentionWithLse, BackendChoice, BackendName, BlockSparseTensor, DeviceAttentionGradients,
  DeviceAttentionWithLse, DeviceTensor, Float16Input, Float16Tensor, KvAttentionArgs, KvCache, KvCacheOptions, MatmulArgs, SoftmaxArgs,
  SoftmaxBackwardArgs, Tensor,
} from './types.js';
import { FLOAT16_CONVERTED, FLOAT16_OPS, hostTensor, type Storage } from './dtype.js';
import { checkKvCacheOptions, KvCacheHandle } from './kv-cache.js';
import { checkAnyTensor, checkBoolean, checkChoice } from './validate.js';
import { selectBlocksProblem } from './select-blocks.js';
import { checkSelectionShape, DeviceLayoutHandle, isDeviceLayout, ownDeviceLayout } from './device-layout.js';
import { attentionMass } from './attention-mass.js';
import { selectedLayout } from './layouts/selected-layout.js';
import { positiveInt } from './layouts/args.js';
import { checkArgNames } from './arg-names.js';
import { WeakHandles } from './weak-handles.js';

export interface EngineOptions {
  backend?: BackendChoice;
  /** CPU worker threads; default: the available parallelism. 1 runs on the calling thread. */
  threads?: number;
  /** CPU SIMD build; default 'auto' (relaxed where the runtime validates it). */
  simd?: 'auto' | 'simd' | 'relaxed';
  /**
   * WebGPU: measure kernel times with timestamp queries (lastTimings.kernelMs); default true. With
   * false a call reads back no timestamps, and a keepOnDevice call does not wait for its kernels.
   */
  timings?: boolean;
  /**
   * WebGPU in Node (Dawn): create the device with Dawn's `allow_unsafe_apis` and
   * `vulkan_enable_f16_on_nvidia` toggles, which expose `shader-f16` on NVIDIA GPUs and the
   * experimental subgroup-matrix feature (the GPU's matrix units). Off by default: Dawn hides them
   * for driver bugs. Browsers and Deno ignore it (they expose what they support).
   */
  experimentalWebgpu?: boolean;
}

export interface EngineInfo extends BackendInfo {
  backend: BackendName;
  /** The arithmetic behind float16 tensors (API.md "Float16 storage"). */
  float16: string;
  /** Per op, the path float16 tensors take and why (f16 shaders, or converted to float32 and the reason). */
  float16Ops: Record<Float16Op, string>;
  /** Fallbacks taken, each with its reason (no adapter, no shared memory, no relaxed SIMD). */
  fallbacks: string[];
}

/** The last completed call: end to end on the calling thread, and the device's kernel time where measured. */
export interface CallTimings {
  op: string;
  /** Wall time of the whole call: validation, copies or transfers, kernels, readback. */
  wallMs: number;
  /**
   * Kernel time. WebGPU (with timestamp-query): the sum of the kernels' device time. CPU: the time
   * during which at least one task of a kernel ran, measured on the threads that ran them (so
   * wallMs − kernelMs is the copies, dispatch and waiting around them). Absent where not measured.
   */
  kernelMs?: number;
  kernels?: readonly { kernel: string; ms: number }[];
}

export interface Engine {
  readonly backend: BackendName;
  readonly info: EngineInfo;
  /** Timings of the last completed call, or null before the first. */
  readonly lastTimings: CallTimings | null;
  /**
   * Copies a dense tensor into the backend's memory once (a GPU buffer on WebGPU), for use as q, k,
   * v or dout in later calls without another transfer.
   */
  upload(tensor: Float16Tensor): Promise<DeviceTensor<'float16'>>;
  upload(tensor: Tensor): Promise<DeviceTensor>;
  /**
   * A KV cache in the backend's memory (KvCache): append tokens as they come, then attend over
   * them with `attention({ q, kv: cache, … })`. Closed with the engine.
   */
  createKvCache(options: KvCacheOptions): Promise<KvCache>;
  // a float16 q (and so k, v, dout): results in float16
  attention(args: AttentionCall & { q: Float16Input; keepOnDevice: true; returnLse: true }): Promise<DeviceAttentionWithLse<'float16'>>;
  attention(args: AttentionCall & { q: Float16Input; returnLse: true }): Promise<AttentionWithLse<'float16'>>;
  attention(args: AttentionCall & { q: Float16Input; keepOnDevice: true }): Promise<DeviceTensor<'float16'>>;
  attention(args: AttentionCall & { q: Float16Input }): Promise<Float16Tensor>;
  attention(args: AttentionCall & { keepOnDevice: true; returnLse: true }): Promise<DeviceAttentionWithLse>;
  attention(args: AttentionCall & { returnLse: true }): Promise<AttentionWithLse>;
  attention(args: AttentionCall & { keepOnDevice: true }): Promise<DeviceTensor>;
  attention(args: AttentionCall): Promise<Tensor>;
  attentionBackward(args: AttentionBackwardArgs & { q: Float16Input; keepOnDevice: true }): Promise<DeviceAttentionGradients<'float16'>>;
  attentionBackward(args: AttentionBackwardArgs & { q: Float16Input }): Promise<AttentionGradients<'float16'>>;
  attentionBackward(args: AttentionBackwardArgs & { keepOnDevice: true }): Promise<DeviceAttentionGradients>;
  attentionBackward(args: AttentionBackwardArgs): Promise<AttentionGradients>;
  matmul(args: MatmulArgs & { mode: 'sdd' }): Promise<BlockSparseTensor>;
  matmul(args: MatmulArgs & { mode: 'dsd' | 'dds' }): Promise<Tensor>;
  matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor>;
  softmax(args: SoftmaxArgs): Promise<BlockSparseTensor>;
  softmaxBackward(args: SoftmaxBackwardArgs): Promise<BlockSparseTensor>;
  /** A content-based layout [B, Hq, R, C] (API.md "Content-based layouts"); a DeviceLayout with keepOnDevice. */
  selectBlocks(args: SelectBlocksArgs & { keepOnDevice: true }): Promise<DeviceLayout>;
  selectBlocks(args: SelectBlocksArgs): Promise<BatchedLayout>;
  /** Per query row, the share of its dense softmax mass the layout keeps: Tensor [B, Hq, Nq]. */
  attentionMass(args: AttentionMassArgs): Promise<Tensor>;
  close(): Promise<void>;
}

/** attention's arguments: keys and values as k and v, or a KV cache. */
export type AttentionCall = AttentionArgs | KvAttentionArgs;

const BACKENDS = ['cpu', 'webgpu', 'auto'] as const;
const SIMD = ['auto', 'simd', 'relaxed'] as const;

type CheckedOptions = Required<Pick<EngineOptions, 'backend' | 'simd' | 'timings' | 'experimentalWebgpu'>> & { threads?: number };

function checkOptions(options: unknown): CheckedOptions {
  if (options === undefined) return { backend: 'auto', simd: 'auto', timings: true, experimentalWebgpu: false };
  if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
  checkArgNames('createEngine', options);
  const o = options as EngineOptions;
  const backend = checkChoice('options.backend', o.backend, BACKENDS, 'auto');
  const simd = checkChoice('options.simd', o.simd, SIMD, 'auto');
  if (o.threads !== undefined) positiveInt('options.threads', o.threads);
  const timings = o.timings === undefined || checkBoolean('options.timings', o.timings);
  const experimentalWebgpu = o.experimentalWebgpu !== undefined && checkBoolean('options.experimentalWebgpu', o.experimentalWebgpu);
  return { backend, simd, threads: o.threads, timings, experimentalWebgpu };
}

async function cpuBackend(threads: number | undefined, simd: 'auto' | 'simd' | 'relaxed'): Promise<Backend> {
  const { createCpuBackend } = await import('./cpu/backend.js');
  return createCpuBackend({ threads, simd });
}

async function gpuBackend(timings: boolean, experimental: boolean): Promise<Backend> {
  // gpu/ is loaded only when asked for, so the CPU engine never needs WebGPU or Dawn.
  const { createWebGPUBackend } = await import('../gpu/index.js');
  return createWebGPUBackend({ timings, experimental });
}

export async function createEngine(options?: EngineOptions): Promise<Engine> {
  const { backend: choice, simd, threads, timings, experimentalWebgpu } = checkOptions(options);
  const fallbacks: string[] = [];
  let backend: Backend;
  if (choice === 'cpu') {
    backend = await cpuBackend(threads, simd);
  } else if (choice === 'webgpu') {
    backend = await gpuBackend(timings, experimentalWebgpu);
  } else {
    try {
      backend = await gpuBackend(timings, experimentalWebgpu);
    } catch (e) {
      fallbacks.push(`webgpu unavailable, using the CPU: ${withoutPrefix((e as Error).message)}`);
      backend = await cpuBackend(threads, simd);
    }
  }
  const own = (backend.info.fallbacks as string[] | undefined) ?? [];
  const float16 = typeof backend.info.float16 === 'string' ? backend.info.float16 : FLOAT16_CONVERTED;
  const ops = (backend.info.float16Ops ?? {}) as Partial<Record<Float16Op, string>>;
  const float16Ops = Object.fromEntries(FLOAT16_OPS.map((op) => [op, ops[op] ?? FLOAT16_CONVERTED])) as Record<Float16Op, string>;
  const info: EngineInfo = { ...backend.info, backend: backend.name, float16, float16Ops, fallbacks: [...fallbacks, ...own] };
  return new EngineImpl(backend, info);
}

class EngineImpl implements Engine {
  private closed = false;
  /** Caches not yet destroyed: close destroys them (a dropped one is freed when collected). */
  private readonly caches = new WeakHandles<KvCacheHandle>();
  /** DeviceLayouts not yet destroyed: close destroys them (a dropped one is freed when collected). */
  private readonly layouts = new WeakHandles<DeviceLayoutHandle>();
  lastTimings: CallTimings | null = null;
  /** The backend stores float16: float16 data reaches it as half-float bits, unconverted. */
  private readonly half: boolean;
  constructor(private readonly impl: Backend, readonly info: EngineInfo) {
    this.half = impl.storesFloat16 === true;
  }

  /** Runs a backend call, recording its wall time and, where the backend measures it, kernel time. */
  private async timed<T>(op: string, call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const result = await call();
    const device = this.impl.lastTimings;
    this.lastTimings = {
      op, wallMs: performance.now() - t0,
      ...(device ? { kernelMs: device.totalMs, kernels: device.kernels.map(({ kernel, ms }) => ({ kernel, ms })) } : {}),
    };
    return result;
  }

  get backend(): BackendName {
    return this.impl.name;
  }

  private open(): void {
    if (this.closed) throw errors.closed();
  }

  // upload, attention and attentionBackward: their overloads are Engine's (the result types follow
  // the arguments); the implementations are checked against them through `implements Engine`
  async upload(tensor: Tensor | Float16Tensor): Promise<any> {
    this.open();
    const t = checkAnyTensor('tensor', tensor, '[...] of positive integers', 'any', this.half);
    const resident = await this.timed('upload', () => this.impl.upload(t.data, t.shape[t.shape.length - 1]));
    return new DeviceTensorHandle(t.shape, this.impl.name, resident, this, t.storage);
  }

  async createKvCache(options: KvCacheOptions): Promise<KvCache> {
    this.open();
    checkArgNames('createKvCache', options);
    const o = checkKvCacheOptions(options);
    const data = await this.impl.createKvCache(o.batch, o.kvHeads, o.headDim, o.capacity, this.half ? o.dtype : 'float32', o.summaryBlock ?? undefined);
    const cache = new KvCacheHandle(o, this.impl.name, data, this, (c) => this.caches.delete(c));
    this.caches.add(cache);
    return cache;
  }

  /**
   * A result as the caller asked for it: a Tensor, or a DeviceTensor of this engine; in `storage`,
   * the inputs' (float16 results are converted here, the one copy out).
   */
  private result(data: OperandData, shape: number[], storage: Storage): Tensor | Float16Tensor | DeviceTensor<'float32' | 'float16'> {
    const host = data instanceof Float32Array || data instanceof Uint16Array;
    return host ? hostTensor(data, shape, storage) : new DeviceTensorHandle(shape, this.impl.name, data, this, storage);
  }

  async attention(args: AttentionCall): Promise<any> {
    this.open();
    checkArgNames('attention', args);
    const p = attentionProblem(args, this, this.half);
    const shape = [p.B, p.H, p.N, p.D];
    if (!p.returnLse) return this.result(await this.timed('attention', () => this.impl.attention(p)), shape, p.storage);
    const { out, lse } = await this.timed('attention', () => this.impl.attentionWithLse(p));
    return { out: this.result(out, shape, p.storage), lse: { data: lse, shape: [p.B, p.H, p.N] } };
  }

  async attentionBackward(args: AttentionBackwardArgs): Promise<any> {
    this.open();
    checkArgNames('attentionBackward', args);
    // a layout held on the device serves the forward only: the backward reads its host layout (read back once)
    const held = isDeviceLayout(args.layout) ? ownDeviceLayout('layout', args.layout, this) : null;
    if (held?.resident) args = { ...args, layout: await held.host() };
    const p = attentionBackwardProblem(args, this, this.half);
    if (held?.resident) checkSelectionShape(held.shape, p.B, p.H); // its host layout alone would be read through h % Hl
    const g = await this.timed('attentionBackward', () => this.impl.attentionBackward(p));
    const kvShape = () => [p.B, p.Hkv, p.Nk, p.D];
    return {
      dq: this.result(g.dq, [p.B, p.H, p.N, p.D], p.storage), dk: this.result(g.dk, kvShape(), p.storage), dv: this.result(g.dv, kvShape(), p.storage),
    };
  }

  matmul(args: MatmulArgs & { mode: 'sdd' }): Promise<BlockSparseTensor>;
  matmul(args: MatmulArgs & { mode: 'dsd' | 'dds' }): Promise<Tensor>;
  matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor>;
  async matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor> {
    this.open();
    checkArgNames('matmul', args);
    const { problem, outShape } = matmulProblem(args);
    const data = await this.timed(`matmul ${problem.mode}`, () => this.impl.matmul(problem));
    if (problem.mode === 'sdd') {
      // the caller's layout: compiled tables are cached by layout.data, so problem.layout.layout may be another object with that data
      return { layout: (args as MatmulArgs & { mode: 'sdd' }).layout, data, shape: outShape as [number, number, number, number] };
    }
    return { data, shape: outShape };
  }

  async softmax(args: SoftmaxArgs): Promise<BlockSparseTensor> {
    this.open();
    checkArgNames('softmax', args);
    const p = softmaxProblem(args);
    return { layout: args.x.layout, data: await this.timed('softmax', () => this.impl.softmax(p)), shape: [...args.x.shape] };
  }

  async softmaxBackward(args: SoftmaxBackwardArgs): Promise<BlockSparseTensor> {
    this.open();
    checkArgNames('softmaxBackward', args);
    const p = softmaxBackwardProblem(args);
    return { layout: args.y.layout, data: await this.timed('softmaxBackward', () => this.impl.softmaxBackward(p)), shape: [...args.y.shape] };
  }

  selectBlocks(args: SelectBlocksArgs & { keepOnDevice: true }): Promise<DeviceLayout>;
  selectBlocks(args: SelectBlocksArgs): Promise<BatchedLayout>;
  async selectBlocks(args: SelectBlocksArgs): Promise<BatchedLayout | DeviceLayout> {
    this.open();
    checkArgNames('selectBlocks', args);
    const p = selectBlocksProblem(args, this);
    const resident = p.keepOnDevice ? this.impl.selectBlocksResident?.bind(this.impl) : undefined;
    let source: BatchedLayout | ResidentLayoutData | null = resident ? await this.timed('selectBlocks', () => resident(p)) : null;
    if (!source) {
      const got = await this.timed('selectBlocks', () => this.impl.selectBlocks(p));
      source = got instanceof Uint8Array ? { block: p.block, shape: [p.B, p.Hq, p.R, p.C], data: got } : selectedLayout(got);
    }
    if (!p.keepOnDevice) return source as BatchedLayout;
    const handle = new DeviceLayoutHandle(source, this.impl.name, this, (l) => this.layouts.delete(l));
    this.layouts.add(handle);
    return handle;
  }

  async attentionMass(args: AttentionMassArgs): Promise<Tensor> {
    this.open();
    checkArgNames('attentionMass', args);
    const t0 = performance.now();
    const passes: (CallTimings | null)[] = [];
    const mass = await attentionMass(this, args, () => passes.push(this.lastTimings));
    // both passes: their kernels summed, where both measured them
    const measured = passes.every((t) => t?.kernelMs !== undefined);
    this.lastTimings = {
      op: 'attentionMass', wallMs: performance.now() - t0,
      ...(measured ? { kernelMs: passes.reduce((s, t) => s + t!.kernelMs!, 0), kernels: passes.flatMap((t) => t!.kernels ?? []) } : {}),
    };
    return mass;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // the backend finishes the calls already made first: a cache or layout they read stays theirs
    await this.impl.close();
    for (const cache of this.caches.alive()) cache.destroy();
    for (const layout of this.layouts.alive()) layout.destroy();
  }
}
