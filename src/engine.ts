// createEngine: picks a backend, then every call goes API → validation → compiled layout →
// backend. A bad call rejects before dispatch and leaves the engine usable.
import type { Backend, BackendInfo } from './backend.js';
import { errors } from './errors.js';
import { attentionBackwardProblem, attentionProblem, matmulProblem, softmaxBackwardProblem, softmaxProblem } from './problems.js';
import type { AttentionArgs, AttentionBackwardArgs, AttentionGradients, BackendChoice, BackendName, BlockSparseTensor, MatmulArgs, SoftmaxArgs, SoftmaxBackwardArgs, Tensor } from './types.js';
import { checkChoice } from './validate.js';

export interface EngineOptions {
  backend?: BackendChoice;
  /** CPU worker threads; default: the available parallelism. 1 runs on the calling thread. */
  threads?: number;
  /** CPU SIMD build; default 'auto' (relaxed where the runtime validates it). */
  simd?: 'auto' | 'simd' | 'relaxed';
}

export interface EngineInfo extends BackendInfo {
  backend: BackendName;
  /** Fallbacks taken, each with its reason (no adapter, no shared memory, no relaxed SIMD). */
  fallbacks: string[];
}

/** The last completed call: end to end on the calling thread, and the device's kernel time where measured. */
export interface CallTimings {
  op: string;
  /** Wall time of the whole call: validation, copies or transfers, kernels, readback. */
  wallMs: number;
  /** Sum of the kernels' device time (WebGPU timestamp queries); absent where not measured. */
  kernelMs?: number;
  kernels?: readonly { kernel: string; ms: number }[];
}

export interface Engine {
  readonly backend: BackendName;
  readonly info: EngineInfo;
  /** Timings of the last completed call, or null before the first. */
  readonly lastTimings: CallTimings | null;
  attention(args: AttentionArgs): Promise<Tensor>;
  attentionBackward(args: AttentionBackwardArgs): Promise<AttentionGradients>;
  matmul(args: MatmulArgs & { mode: 'sdd' }): Promise<BlockSparseTensor>;
  matmul(args: MatmulArgs & { mode: 'dsd' | 'dds' }): Promise<Tensor>;
  matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor>;
  softmax(args: SoftmaxArgs): Promise<BlockSparseTensor>;
  softmaxBackward(args: SoftmaxBackwardArgs): Promise<BlockSparseTensor>;
  close(): Promise<void>;
}

const BACKENDS = ['cpu', 'webgpu', 'auto'] as const;
const SIMD = ['auto', 'simd', 'relaxed'] as const;

function checkOptions(options: unknown): Required<Pick<EngineOptions, 'backend' | 'simd'>> & { threads?: number } {
  if (options === undefined) return { backend: 'auto', simd: 'auto' };
  if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
  const o = options as EngineOptions;
  const backend = checkChoice('options.backend', o.backend, BACKENDS, 'auto');
  const simd = checkChoice('options.simd', o.simd, SIMD, 'auto');
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads > 0)) {
    throw errors.notPositiveInt('options.threads', o.threads);
  }
  return { backend, simd, threads: o.threads };
}

async function cpuBackend(threads: number | undefined, simd: 'auto' | 'simd' | 'relaxed'): Promise<Backend> {
  const { createCpuBackend } = await import('./cpu/backend.js');
  return createCpuBackend({ threads, simd });
}

async function gpuBackend(): Promise<Backend> {
  // gpu/ is loaded only when asked for, so the CPU engine never needs WebGPU or Dawn.
  const { createWebGPUBackend } = await import('../gpu/index.js');
  return createWebGPUBackend();
}

export async function createEngine(options?: EngineOptions): Promise<Engine> {
  const { backend: choice, simd, threads } = checkOptions(options);
  const fallbacks: string[] = [];
  let backend: Backend;
  if (choice === 'cpu') {
    backend = await cpuBackend(threads, simd);
  } else if (choice === 'webgpu') {
    backend = await gpuBackend();
  } else {
    try {
      backend = await gpuBackend();
    } catch (e) {
      fallbacks.push(`webgpu unavailable, using the CPU: ${(e as Error).message}`);
      backend = await cpuBackend(threads, simd);
    }
  }
  const own = (backend.info.fallbacks as string[] | undefined) ?? [];
  const info: EngineInfo = { ...backend.info, backend: backend.name, fallbacks: [...fallbacks, ...own] };
  return new EngineImpl(backend, info);
}

class EngineImpl implements Engine {
  private closed = false;
  lastTimings: CallTimings | null = null;
  constructor(private readonly impl: Backend, readonly info: EngineInfo) {}

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

  async attention(args: AttentionArgs): Promise<Tensor> {
    this.open();
    const p = attentionProblem(args);
    return { data: await this.timed('attention', () => this.impl.attention(p)), shape: [p.B, p.H, p.N, p.D] };
  }

  async attentionBackward(args: AttentionBackwardArgs): Promise<AttentionGradients> {
    this.open();
    const p = attentionBackwardProblem(args);
    const g = await this.timed('attentionBackward', () => this.impl.attentionBackward(p));
    const shape = () => [p.B, p.H, p.N, p.D];
    return { dq: { data: g.dq, shape: shape() }, dk: { data: g.dk, shape: shape() }, dv: { data: g.dv, shape: shape() } };
  }

  matmul(args: MatmulArgs & { mode: 'sdd' }): Promise<BlockSparseTensor>;
  matmul(args: MatmulArgs & { mode: 'dsd' | 'dds' }): Promise<Tensor>;
  matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor>;
  async matmul(args: MatmulArgs): Promise<Tensor | BlockSparseTensor> {
    this.open();
    const { problem, outShape } = matmulProblem(args);
    const data = await this.timed(`matmul ${problem.mode}`, () => this.impl.matmul(problem));
    if (problem.mode === 'sdd') {
      return { layout: problem.layout.layout, data, shape: outShape as [number, number, number, number] };
    }
    return { data, shape: outShape };
  }

  async softmax(args: SoftmaxArgs): Promise<BlockSparseTensor> {
    this.open();
    const p = softmaxProblem(args);
    return { layout: args.x.layout, data: await this.timed('softmax', () => this.impl.softmax(p)), shape: [...args.x.shape] };
  }

  async softmaxBackward(args: SoftmaxBackwardArgs): Promise<BlockSparseTensor> {
    this.open();
    const p = softmaxBackwardProblem(args);
    return { layout: args.y.layout, data: await this.timed('softmaxBackward', () => this.impl.softmaxBackward(p)), shape: [...args.y.shape] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.impl.close();
  }
}
