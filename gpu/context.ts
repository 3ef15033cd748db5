/// <reference types="@webgpu/types" />
// What every op needs from the device: limits, the pipeline cache, the layout-table cache, and a
// Recorder that encodes one op's passes into a single command buffer inside error scopes, with
// timestamp queries around each pass when the device has them.
import type { AttnKernel, TileOverride } from './attention-common.js';
import { checkSize, encodeReadback, LayoutTableCache, queueWritable, uploadParts, writeParts, type DeviceLimits, type Readback } from './buffers.js';
import { BufferUsage, foldDispatch, packUniforms, PipelineCache, type Program, type UniformValues } from './program.js';
import { GpuResident, readResidentBuffer } from './resident.js';
import { BufferPool } from './buffer-pool.js';
import { StagingPool } from './staging-pool.js';
import { UniformPool } from './uniform-pool.js';
import { BindGroupCache, type BoundBuffer } from './bind-groups.js';
import type { MatrixSupport } from './device.js';
import type { HostData, KernelTime, OpTimings } from '../src/backend.js';
import type { Dtype } from '../src/types.js';
import { fail, internal } from '../src/errors.js';

/** GPU time of one pass, from timestamp queries. */
export interface KernelTiming extends KernelTime {
  /** The program's shaderKey: its tile and compile-time flags. */
  readonly key: string;
}

/**
 * Where steps' uniforms start in an op's one uniform buffer: WebGPU's default
 * minUniformBufferOffsetAlignment, the largest a device may require.
 */
const UNIFORM_ALIGN = 256;

/** Internal knobs (bench/gpu/decode-calls.ts compares them): whether an op with nothing to read returns before its error scopes answer (timings off). */
export const recorderTuning = {
  deferChecks: true,
};

export class GpuContext {
  readonly pipelines: PipelineCache;
  readonly layouts: LayoutTableCache;
  /** Outputs and temporaries ops gave up, for the next op's (buffer-pool.ts). */
  readonly bufferPool: BufferPool;
  /** Mappable buffers for readbacks (staging-pool.ts). */
  readonly staging: StagingPool;
  /** Ops' uniform buffers, reused (uniform-pool.ts). */
  readonly uniformPool: UniformPool;
  /** Bind groups made for buffers that come back (bind-groups.ts). */
  readonly bindGroups: BindGroupCache;
  /** Set when the subgroup probe passed: subgroups exist and tile rows map onto lanes linearly. */
  readonly subgroupSize: number;
  lastTimings: OpTimings<KernelTiming> | null = null;
  lost: string | null = null;
  /** Whether the matrix-unit kernels can run (set from the acquired device). */
  matrix: MatrixSupport = { available: false, reason: 'no subgroup matrices' };
  /** Forced attention tiles (tuning only). */
  tileOverrides: Partial<Record<AttnKernel, TileOverride>> = {};

  constructor(
    readonly device: GPUDevice,
    readonly limits: DeviceLimits,
    readonly timestampQuery: boolean,
    subgroupSize: number,
    /** Measure kernels (WebGPUBackendOptions.timings); false: no stamps, and no wait with nothing to read. */
    readonly timings = true,
  ) {
    this.pipelines = new PipelineCache(device);
    this.layouts = new LayoutTableCache(device, limits);
    this.bufferPool = new BufferPool(device, limits);
    this.staging = new StagingPool(device);
    this.uniformPool = new UniformPool(device);
    this.bindGroups = new BindGroupCache(device);
    this.subgroupSize = subgroupSize;
  }

  /**
   * The error scopes of ops that returned once submitted (Recorder.run), still to answer, and the
   * first failure they reported: the next op throws it.
   */
  private readonly pendingChecks = new Set<Promise<void>>();
  private deferredFailure: Error | null = null;

  /** Answers an op's scopes later: a failure is thrown by the next op, and an out-of-memory error empties the pools. */
  deferCheck(op: string, scopes: Promise<[GPUError | null, GPUError | null]>): void {
    const check = scopes.then(
      ([validation, oom]) => {
        if (oom) this.emptyPools();
        if (validation || oom) this.deferredFailure ??= fail(`webgpu: ${op} failed: ${(validation ?? oom)!.message}`);
      },
      (e: unknown) => {
        this.deferredFailure ??= fail(`webgpu: ${op} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      },
    );
    this.pendingChecks.add(check);
    void check.finally(() => this.pendingChecks.delete(check));
  }

  /** Gives the device back every buffer the pools hold (on close, and after an out-of-memory error). */
  emptyPools(): void {
    this.bufferPool.clear();
    this.staging.clear();
    this.uniformPool.clear();
    this.bindGroups.clear();
  }

  /** The failure an earlier op's scopes reported, once (null: none yet). */
  takeDeferredFailure(): Error | null {
    const e = this.deferredFailure;
    this.deferredFailure = null;
    return e;
  }

  /** Settles once every deferred check has answered. */
  async deferredChecks(): Promise<void> {
    if (this.pendingChecks.size > 0) await Promise.all(this.pendingChecks);
  }

  /** Shared by every GpuResident of this backend: set when it closes. */
  readonly life = { closed: false };
  /** How residents read back; index.ts routes it through the backend's queue of ops. */
  residentReader: (r: GpuResident) => Promise<HostData> = (r) => readResidentBuffer(this.device, this.staging, r);

  /** Wraps a buffer of padded rows (of f16 values where `dtype` is 'float16') that outlives its op (keepOnDevice, upload). */
  persist(buffer: GPUBuffer, length: number, rowLength: number, dtype: Dtype = 'float32'): GpuResident {
    return new GpuResident(buffer, length, rowLength, this.life, (r) => this.residentReader(r), (b) => this.bufferPool.give(b), dtype);
  }

  /**
   * Every op starts here, with no timings: one that records no pass must not report the last op's.
   * `measured` false: a step of a call that reports no timings (a KV cache's append) is not measured,
   * as with timings false, and leaves the last op's.
   */
  recorder(op: string, measured = true): Recorder {
    if (measured) this.lastTimings = null;
    if (this.lost) throw fail(`webgpu: the device was lost (${this.lost})`);
    return new Recorder(this, op, measured);
  }

  /**
   * For an op run as more than one submission (each recorder starts with no timings): the timings
   * `earlier` submissions reported, joined before the last's. None where either measured nothing.
   */
  joinTimings(earlier: OpTimings<KernelTiming> | null): void {
    const last = this.lastTimings;
    this.lastTimings = earlier && last ? { op: earlier.op, kernels: [...earlier.kernels, ...last.kernels], totalMs: earlier.totalMs + last.totalMs } : null;
  }
}

interface Step {
  program: Program;
  buffers: GPUBuffer[];
  uniforms: ArrayBuffer;
  workgroups: number;
}

/** One op's work: dispatches, then one submit, readback and cleanup. */
export class Recorder {
  private readonly steps: Step[] = [];
  private readonly owned: GPUBuffer[] = [];
  /** Owned buffers from the pool, given back when the op ends. */
  private readonly pooled = new Set<GPUBuffer>();
  /** Reused pool buffers, cleared before the first pass. */
  private readonly clears: GPUBuffer[] = [];
  private readonly copies: Array<[GPUBuffer, number, GPUBuffer, number, number]> = [];

  constructor(
    private readonly ctx: GpuContext,
    private readonly op: string,
    private readonly measured = true,
  ) {}

  /** Registers a buffer to destroy when the op ends. */
  own<T extends GPUBuffer>(b: T): T {
    this.owned.push(b);
    return b;
  }

  /**
   * A storage buffer of `bytes` for the op's output or temporaries, zeroed as a fresh one is: from
   * the pool where it has one of that size. Given back to the pool when the op ends (unless disowned).
   */
  output(label: string, bytes: number): GPUBuffer {
    const { buffer, reused } = this.ctx.bufferPool.take(label, bytes);
    if (reused) this.clears.push(buffer);
    this.pooled.add(buffer);
    return this.own(buffer);
  }

  /**
   * A read-only storage buffer holding `parts` one after another (uploadParts' layout), freed when
   * the op ends. Small host data (offsets, masks) takes a pooled buffer the queue fills, with no
   * clear: creating and destroying a buffer per op costs host time in every call (a decode step's).
   */
  input(label: string, parts: readonly (Float32Array | Int32Array)[]): GPUBuffer {
    let at = 0;
    const placed = parts.map((data) => ({ data, at: (at += data.byteLength) - data.byteLength }));
    if (!queueWritable(at, placed)) return this.own(uploadParts(this.ctx.device, this.ctx.limits, label, parts).buffer);
    checkSize(this.ctx.limits, label, at);
    const { buffer } = this.ctx.bufferPool.take(label, at);
    writeParts(this.ctx.device, buffer, placed);
    this.pooled.add(buffer);
    return this.own(buffer);
  }

  /** Takes a buffer back from the op's cleanup: it outlives the op (keepOnDevice). */
  disown(b: GPUBuffer): void {
    const i = this.owned.indexOf(b);
    if (i >= 0) this.owned.splice(i, 1);
  }

  /** A buffer-to-buffer copy (bytes) after every dispatch, before the readback. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.copies.push([src, srcOffset, dst, dstOffset, bytes]);
  }

  dispatch(program: Program, buffers: GPUBuffer[], uniforms: UniformValues, workgroups: number): void {
    if (buffers.length !== program.bindings.length) {
      throw internal(`webgpu: ${program.name} takes ${program.bindings.length} buffers, got ${buffers.length}`);
    }
    this.steps.push({ program, buffers, uniforms: packUniforms(program, uniforms, workgroups), workgroups });
  }

  /** The op's temporaries (uniforms, timestamps), destroyed when it ends. */
  private readonly temps: GPUBuffer[] = [];

  /** The op's uniform buffer, from the context's pool: given back when the op ends. */
  private uniformBuffer: GPUBuffer | null = null;

  /** Destroys the temporaries and the owned buffers, giving pooled ones back unless the op ran out of memory. */
  private release(oom: boolean): void {
    for (const b of this.temps) b.destroy();
    if (this.uniformBuffer) {
      if (oom) this.uniformBuffer.destroy();
      else this.ctx.uniformPool.give(this.uniformBuffer);
      this.uniformBuffer = null;
    }
    // in reverse: the pool hands out the buffer given last, so the next op of the same shape takes
    // back the very buffers this one took, in order, and its kept bind groups (bind-groups.ts) serve
    for (let i = this.owned.length - 1; i >= 0; i--) {
      const b = this.owned[i]!;
      if (this.pooled.has(b) && !oom) this.ctx.bufferPool.give(b);
      else b.destroy();
    }
  }

  /** Encodes and submits every dispatch, reads back `reads`, and frees the op's buffers. */
  async run(reads: readonly Readback[]): Promise<ArrayBuffer[]> {
    const { device, limits } = this.ctx;
    const earlier = this.ctx.takeDeferredFailure();
    if (earlier) {
      this.release(false);
      throw earlier;
    }
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let results: ArrayBuffer[] | null = null;
    let failure: unknown = null;
    let querySet: GPUQuerySet | null = null;
    const temps = this.temps;
    /** Set once submitted with nothing to read and no kernels to wait for: the op returns then. */
    let unawaited = false;
    // validation was pushed last, so it pops first; both pops are issued at once
    let scopes: Promise<[GPUError | null, GPUError | null]> | null = null;
    const popScopes = () => (scopes ??= Promise.all([device.popErrorScope(), device.popErrorScope()]));
    try {
      const pipelines = await Promise.all(this.steps.map((s) => this.ctx.pipelines.get(s.program)));
      const timed = this.ctx.timestampQuery && this.ctx.timings && this.measured && this.steps.length > 0;
      if (timed) {
        querySet = device.createQuerySet({ label: `${this.op} timestamps`, type: 'timestamp', count: 2 * this.steps.length });
      }
      const encoder = device.createCommandEncoder({ label: this.op });
      for (const b of this.clears) encoder.clearBuffer(b);
      // every step's uniforms in one buffer, one write (each at a multiple of UNIFORM_ALIGN)
      const at: number[] = [];
      let end = 0;
      for (const s of this.steps) {
        at.push(end);
        end += Math.ceil(s.uniforms.byteLength / UNIFORM_ALIGN) * UNIFORM_ALIGN;
      }
      const packed = new Uint8Array(end);
      this.steps.forEach((s, i) => packed.set(new Uint8Array(s.uniforms), at[i]));
      // (an op of copies only has no uniforms); queue.writeBuffer is ordered with submissions, so a
      // buffer an earlier op still reads can take this op's values
      const ub = end === 0 ? null : (this.uniformBuffer = this.ctx.uniformPool.take(this.op, end));
      if (ub) device.queue.writeBuffer(ub, 0, packed);
      // Timed, each step is a pass of its own (timestamps are written per pass); else all of them
      // share one pass (each dispatch is its own usage scope, so a step sees the writes of those
      // before it), with the pipeline set only where it changes: fewer calls, each costing host time.
      let shared: GPUComputePassEncoder | null = null;
      let pipelineSet: GPUComputePipeline | null = null;
      this.steps.forEach((s, i) => {
        const bound: BoundBuffer[] = s.buffers.map((buffer) => ({ buffer }));
        bound.push({ buffer: ub!, offset: at[i], size: s.uniforms.byteLength });
        const group = this.ctx.bindGroups.get(`${s.program.name} bind group`, pipelines[i].layout, bound);
        const pass =
          shared ??
          encoder.beginComputePass({
            label: querySet ? s.program.name : this.op,
            ...(querySet
              ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } }
              : {}),
          });
        if (pipelineSet !== pipelines[i].pipeline) pass.setPipeline((pipelineSet = pipelines[i].pipeline));
        pass.setBindGroup(0, group);
        const [x, y] = foldDispatch(s.workgroups, limits.maxComputeWorkgroupsPerDimension);
        if (s.workgroups > 0) pass.dispatchWorkgroups(x, y);
        if (querySet) {
          pass.end();
          pipelineSet = null;
        } else shared = pass;
      });
      (shared as GPUComputePassEncoder | null)?.end();
      for (const [src, so, dst, d, bytes] of this.copies) if (bytes > 0) encoder.copyBufferToBuffer(src, so, dst, d, bytes);
      let stampBuffer: GPUBuffer | null = null;
      if (querySet) {
        const bytes = 16 * this.steps.length;
        stampBuffer = device.createBuffer({
          label: `${this.op} timestamps resolve`,
          size: bytes,
          usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
        });
        temps.push(stampBuffer);
        encoder.resolveQuerySet(querySet, 0, 2 * this.steps.length, stampBuffer, 0);
      }
      const all = stampBuffer ? [...reads, { buffer: stampBuffer, bytes: 16 * this.steps.length }] : reads;
      const rb = encodeReadback(this.ctx.staging, encoder, all);
      device.queue.submit([encoder.finish()]);
      // The scopes cover encoding and submission: pop them now, so that their answers and the
      // readback's arrive together (Dawn for Node answers each await late: bench/results/h100/README.md).
      void popScopes();
      // with nothing to read back, a measured call waits for its kernels (its wall time is theirs);
      // unmeasured (timings: false), it returns once submitted, without waiting for its scopes'
      // answers either (each await of Dawn for Node answers late: bench/results/h100/README.md):
      // the next op throws what they report. Buffers destroyed or pooled now are freed or reused
      // after this work, in queue order.
      if (all.length === 0 && recorderTuning.deferChecks && !(this.ctx.timings && this.measured)) {
        unawaited = true;
        return [];
      }
      if (all.length === 0 && this.ctx.timings && this.measured) await device.queue.onSubmittedWorkDone();
      const out = await rb.finish();
      if (stampBuffer) {
        const stamps = new BigInt64Array(out.pop()!);
        const kernels = this.steps.map((s, i) => ({
          kernel: s.program.name,
          key: s.program.shaderKey,
          ms: Math.max(0, Number(stamps[2 * i + 1] - stamps[2 * i])) / 1e6,
        }));
        this.ctx.lastTimings = { op: this.op, kernels, totalMs: kernels.reduce((a, k) => a + k.ms, 0) };
      }
      results = out;
    } catch (e) {
      failure = e;
    } finally {
      querySet?.destroy();
      if (unawaited) {
        this.release(false);
        this.ctx.deferCheck(this.op, popScopes());
      } else {
        const [validation, oom] = await popScopes();
        this.release(oom !== null);
        // give the device back what the pools held
        if (oom) this.ctx.emptyPools();
        // the device's own message says more than a readback that failed because of it
        if (validation || oom) {
          failure = fail(`webgpu: ${this.op} failed: ${(validation ?? oom)!.message}`, { cause: failure ?? undefined });
        }
        // an earlier op that returned unawaited may have failed: what this one computed from it is not to be trusted
        await this.ctx.deferredChecks();
        const earlier = this.ctx.takeDeferredFailure();
        if (earlier && !failure) failure = earlier;
      }
    }
    if (failure) throw failure;
    if (this.ctx.lost) throw fail(`webgpu: the device was lost during ${this.op} (${this.ctx.lost})`);
    return results!;
  }
}
