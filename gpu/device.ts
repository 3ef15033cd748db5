/// <reference types="@webgpu/types" />
// A device on the GPU that src/probe.ts's findGPU finds (navigator.gpu, or Dawn for Node). Every
// failure rejects with an Error naming the backend, never hangs (each promise has a deadline), and a
// known-answer shader runs before the device is trusted (some Deno releases computed wrong
// results: denoland/deno#24857, #32181).
import { errors, fail } from '../src/errors.js';
import { findGPU, type FoundGPU } from '../src/probe.js';
import type { DeviceLimits } from './buffers.js';
import { BufferUsage, MapModeRead } from './program.js';

export interface WebGPUDeviceOptions {
  powerPreference?: GPUPowerPreference;
  forceFallbackAdapter?: boolean;
  /** Flags for Dawn's `create()` in Node (default: unquantized timestamps, and EXPERIMENTAL_DAWN_FEATURES with `experimental`). */
  dawnFlags?: string[];
  /** Dawn in Node: the toggles that expose shader-f16 on NVIDIA and subgroup matrices (EngineOptions.experimentalWebgpu). */
  experimental?: boolean;
  /** Milliseconds to wait for the adapter and the device (default 20,000). */
  timeoutMs?: number;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** The matrix shape and types the matrix-unit kernels multiply in (a configuration the adapter must list). */
export const MATRIX_CONFIG = { M: 16, N: 16, K: 16, componentType: 'f16', resultComponentType: 'f32' } as const;

/** Whether the matrix-unit kernels can run: both features and MATRIX_CONFIG offered. */
export interface MatrixSupport {
  readonly available: boolean;
  /** Why not, when not. */
  readonly reason: string;
}

/** One of GPUAdapterInfo.subgroupMatrixConfigs (Dawn's experimental subgroup matrices). */
export interface MatrixConfig {
  M: number;
  N: number;
  K: number;
  componentType: string;
  resultComponentType: string;
}

function matrixSupport(adapter: GPUAdapter, features: readonly string[]): MatrixSupport {
  const no = (reason: string): MatrixSupport => ({ available: false, reason });
  if (!features.includes('chromium-experimental-subgroup-matrix')) {
    return no('the adapter offers no chromium-experimental-subgroup-matrix (in Node, createEngine({ experimentalWebgpu: true }) asks Dawn for it)');
  }
  if (!features.includes('shader-f16')) return no('the adapter offers no shader-f16');
  const configs = ((adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: MatrixConfig[] }).subgroupMatrixConfigs ?? []) as MatrixConfig[];
  const c = MATRIX_CONFIG;
  const hit = [...configs].some(
    (x) => x.M === c.M && x.N === c.N && x.K === c.K && String(x.componentType) === c.componentType && String(x.resultComponentType) === c.resultComponentType,
  );
  if (!hit) return no(`no ${c.M}×${c.N}×${c.K} ${c.componentType} → ${c.resultComponentType} subgroup-matrix configuration`);
  return { available: true, reason: '' };
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly adapterInfo: AdapterDescription;
  /** Where the implementation came from. */
  readonly source: FoundGPU['source'];
  /** Features requested on the device. */
  readonly features: string[];
  readonly limits: DeviceLimits & { readonly maxStorageBuffersPerShaderStage: number };
  readonly subgroups: boolean;
  /** Lanes per subgroup when the probe found them usable for row reductions (≥ 16, linear), else 0. */
  readonly subgroupSize: number;
  readonly timestampQuery: boolean;
  readonly matrix: MatrixSupport;
  /** Destroys the device and drops Dawn's GPU object (Dawn keeps Node alive while it is held). */
  release(): void;
}

/** The limits worth more than their defaults here; each is requested at the adapter's value. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail(`backend 'webgpu': ${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function describeAdapter(adapter: GPUAdapter): Promise<AdapterDescription> {
  const a = adapter as GPUAdapter & { requestAdapterInfo?: () => Promise<GPUAdapterInfo> };
  let info: Partial<GPUAdapterInfo> | undefined = a.info;
  if (!info && a.requestAdapterInfo) info = await a.requestAdapterInfo();
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
}

/** What EngineOptions.experimentalWebgpu turns on in Dawn (Dawn hides both by default for driver bugs). */
export const EXPERIMENTAL_DAWN_FEATURES = 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia';

/** Features requested where the adapter offers them. */
const WANTED_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'];

export async function acquireDevice(opts: WebGPUDeviceOptions = {}): Promise<AcquiredDevice> {
  const ms = opts.timeoutMs ?? 20000;
  // Dawn rounds timestamps to 100 µs unless told not to.
  const flags = opts.dawnFlags ?? ['disable-dawn-features=timestamp_quantization'];
  const found = await findGPU(opts.experimental ? [...flags, EXPERIMENTAL_DAWN_FEATURES] : flags);
  let adapter: GPUAdapter | null;
  try {
    const req: GPURequestAdapterOptions = {};
    if (opts.powerPreference) req.powerPreference = opts.powerPreference;
    if (opts.forceFallbackAdapter) req.forceFallbackAdapter = true;
    adapter = await deadline(found.gpu.requestAdapter(req), ms, 'requestAdapter()');
  } catch (e) {
    throw errors.noAdapter(`requestAdapter() failed (${(e as Error).message})`);
  }
  if (!adapter) {
    const hint = opts.forceFallbackAdapter ? ' with forceFallbackAdapter' : opts.powerPreference ? ` for powerPreference '${opts.powerPreference}'` : '';
    throw errors.noAdapter(`requestAdapter()${hint} returned null (${found.source})`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const features: GPUFeatureName[] = [];
  for (const name of WANTED_FEATURES as GPUFeatureName[]) if (adapter.features.has(name)) features.push(name);
  let device: GPUDevice;
  try {
    device = await deadline(adapter.requestDevice({ label: 'blocksparse', requiredFeatures: features, requiredLimits }), ms, 'requestDevice()');
  } catch (e) {
    throw fail(`backend 'webgpu': the adapter refused a device (${(e as Error).message})`);
  }
  const gpuRef: { gpu: GPU | null } = { gpu: found.gpu };
  const release = (): void => {
    device.destroy();
    gpuRef.gpu = null; // lets Dawn's process hold go (its README, "Lifetime")
  };
  try {
    await knownAnswer(device);
  } catch (e) {
    release();
    throw e;
  }
  const subgroups = features.includes('subgroups' as GPUFeatureName);
  let subgroupSize = 0;
  if (subgroups) {
    const minSize = (adapter.info as GPUAdapterInfo & { subgroupMinSize?: number })?.subgroupMinSize;
    subgroupSize = await probeSubgroups(device).catch(() => 0);
    if (typeof minSize === 'number' && minSize < 16) subgroupSize = 0;
  }
  const L = device.limits;
  return {
    device,
    adapter,
    adapterInfo: await describeAdapter(adapter),
    source: found.source,
    features: features.map(String),
    limits: {
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: L.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    },
    subgroups,
    subgroupSize,
    timestampQuery: features.includes('timestamp-query' as GPUFeatureName),
    matrix: matrixSupport(adapter, features.map(String)),
    release,
  };
}

async function runProbe(device: GPUDevice, label: string, code: string, words: number): Promise<ArrayBuffer> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label, code });
  const pipeline = device.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
  const out = device.createBuffer({ label: `${label} out`, size: words * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const read = device.createBuffer({ label: `${label} readback`, size: words * 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const group = device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
  const enc = device.createCommandEncoder({ label });
  const pass = enc.beginComputePass({ label });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, words * 4);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw fail(`backend 'webgpu': the ${label} shader did not build (${err.message})`);
  await deadline(read.mapAsync(MapModeRead), 20000, `the ${label} shader`);
  const data = read.getMappedRange().slice(0);
  read.unmap();
  read.destroy();
  out.destroy();
  return data;
}

/** Workgroup memory, a barrier, vec4 math, exp and the −1e30 sentinel the kernels rely on. */
async function knownAnswer(device: GPUDevice): Promise<void> {
  const code = `
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
var<workgroup> sh: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32) {
  sh[i] = f32(i) * 0.5 + 1.0;
  workgroupBarrier();
  let v = vec4<f32>(sh[63u - i], f32(i), 2.0, -1.0);
  let masked = select(0.0, 100.0, -1e30 + f32(i) > -1e29);
  o[i] = dot(v, vec4<f32>(2.0, 1.0, 0.25, 3.0)) + exp(f32(i) * -0.125) + masked + exp(-1e30 - f32(i));
}`;
  const got = new Float32Array(await runProbe(device, 'known-answer', code, 64));
  for (let i = 0; i < 64; i++) {
    const want = 62.5 + Math.exp(-i / 8);
    if (!(Math.abs(got[i] - want) <= 1e-5 * want)) {
      throw fail(
        `backend 'webgpu': the known-answer shader computed ${got[i]} at ${i}, expected ${want}: this WebGPU implementation gives wrong results (see denoland/deno#24857)`,
      );
    }
  }
}

/**
 * The attention kernels reduce a row over 16 consecutive invocations with subgroupShuffleXor,
 * which needs subgroups of ≥ 16 lanes holding consecutive local indices. Returns the size, or 0.
 */
async function probeSubgroups(device: GPUDevice): Promise<number> {
  const code = `
enable subgroups;
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) i: u32, @builtin(subgroup_invocation_id) s: u32, @builtin(subgroup_size) n: u32) {
  let x = subgroupShuffleXor(i, 5u);
  o[i * 3u] = s;
  o[i * 3u + 1u] = n;
  o[i * 3u + 2u] = x;
}`;
  const got = new Uint32Array(await runProbe(device, 'subgroup probe', code, 768));
  let size = 0;
  for (let i = 0; i < 256; i++) {
    const [s, n, x] = [got[3 * i], got[3 * i + 1], got[3 * i + 2]];
    if (n < 16 || s !== i % n || x !== (i ^ 5)) return 0;
    size = size === 0 ? n : Math.min(size, n);
  }
  return size;
}
