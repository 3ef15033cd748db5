/// <reference types="@webgpu/types" />
// Programs and their pipeline cache (tfjs-backend-webgpu's webgpu_program.ts, onnxruntime-web's
// program-manager.ts). A Program's `shaderKey` holds every compile-time choice (tiles, flags,
// register counts); sizes travel in a uniform struct whose WGSL declaration and JS packing both
// derive from one field list (webgpu-utils: the struct is the one source of the layout), so one
// cached pipeline serves many shapes.
import { errors, fail, internal } from '../src/errors.js';
import { wall } from '../src/attention-parts.js';

/** WebGPU's numeric flags, spelled out so that nothing depends on the GPU* globals (Dawn for Node
 * only provides them if its `globals` are copied onto globalThis). Values from the WebGPU spec. */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;
export const MapModeRead = 0x0001;
export const ShaderStageCompute = 0x4;

export type UniformType = 'u32' | 'i32' | 'f32';
/** Fields of the `Uniforms` struct, in order. Every field is a 4-byte scalar. */
export type UniformFields = readonly (readonly [name: string, type: UniformType])[];
export type UniformValues = Readonly<Record<string, number>>;

export interface BindingSpec {
  readonly name: string;
  readonly access: 'read' | 'read_write';
  /** Element type of the runtime-sized array (f16, vec4<f16>: a program that enables f16). */
  readonly elem: 'f32' | 'i32' | 'vec4<f32>' | 'f16' | 'vec4<f16>';
}

/** Every uniform struct starts with this field: the unfolded workgroup count (see `foldDispatch`). */
const BUILTIN_UNIFORMS: UniformFields = [['numWorkgroups', 'u32']];

export abstract class Program {
  /** Labels the pipeline; spelled out rather than read from the class, which minifiers rename. */
  abstract readonly name: string;
  /** Every compile-time choice; equal keys (for one name) must give identical WGSL. */
  abstract readonly shaderKey: string;
  abstract readonly workgroupSize: number;
  abstract readonly bindings: readonly BindingSpec[];
  abstract readonly uniforms: UniformFields;
  /** Whether the shader uses subgroup builtins (`enable subgroups;`). */
  readonly subgroups: boolean = false;
  /** Whether the shader uses f16 (`enable f16;`, the device's shader-f16). */
  readonly half: boolean = false;
  /**
   * WGSL declarations and a `fn run(wg: u32, lid: u32[, sgid: u32])` that does one workgroup's
   * work; `wg` is the linear workgroup index, already checked against `u.numWorkgroups`.
   */
  abstract body(): string;

  /** The full WGSL: header generated from `bindings` and `uniforms`, then the body. */
  source(): string {
    const fields = [...BUILTIN_UNIFORMS, ...this.uniforms];
    const lines: string[] = [];
    if (this.half) lines.push('enable f16;');
    if (this.subgroups) lines.push('enable subgroups;');
    lines.push('struct Uniforms {', ...fields.map(([n, t]) => `  ${n}: ${t},`), '};');
    this.bindings.forEach((b, i) => {
      lines.push(`@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.elem}>;`);
    });
    lines.push(`@group(0) @binding(${this.bindings.length}) var<uniform> u: Uniforms;`);
    lines.push(this.body());
    const sg = this.subgroups ? ', @builtin(subgroup_invocation_id) sgid: u32' : '';
    lines.push(
      `@compute @workgroup_size(${this.workgroupSize})`,
      'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,',
      `        @builtin(local_invocation_index) lid: u32${sg}) {`,
      '  // Dispatches past maxComputeWorkgroupsPerDimension are folded into y (foldDispatch).',
      '  let wg = wid.x + wid.y * nwg.x;',
      '  if (wg >= u.numWorkgroups) { return; }',
      `  run(wg, lid${this.subgroups ? ', sgid' : ''});`,
      '}',
    );
    return lines.join('\n');
  }
}

/** Size in bytes of a program's uniform buffer (a multiple of 16, as uniform bindings prefer). */
export function uniformByteSize(p: Program): number {
  return Math.ceil(((BUILTIN_UNIFORMS.length + p.uniforms.length) * 4) / 16) * 16;
}

/** Packs `values` in the order of the program's struct; a missing field is an internal error. */
export function packUniforms(p: Program, values: UniformValues, numWorkgroups: number): ArrayBuffer {
  const buf = new ArrayBuffer(uniformByteSize(p));
  const view = new DataView(buf);
  const fields = [...BUILTIN_UNIFORMS, ...p.uniforms];
  const all: Record<string, number> = { ...values, numWorkgroups };
  fields.forEach(([name, type], i) => {
    const v = all[name];
    if (v === undefined || Number.isNaN(v)) throw internal(`webgpu: ${p.name} uniform '${name}' is ${v}`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v, true);
  });
  return buf;
}

/**
 * Spreads `total` workgroups over x and y so that neither passes `maxPerDim` (65,535 by default);
 * the shader rebuilds the linear index as wid.x + wid.y * nwg.x and skips those past `total`.
 */
export function foldDispatch(total: number, maxPerDim: number): [number, number] {
  if (total <= maxPerDim) return [Math.max(total, 1), 1];
  const y = Math.ceil(total / maxPerDim);
  if (y > maxPerDim) throw wall(errors.gpuTooManyWorkgroups(total, maxPerDim));
  return [Math.ceil(total / y), y];
}

function printShaders(): boolean {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env: { get(k: string): string | undefined } } };
  try {
    const v = g.process?.env?.BLOCKSPARSE_PRINT_SHADER ?? g.Deno?.env.get('BLOCKSPARSE_PRINT_SHADER');
    return v !== undefined && v !== '' && v !== '0';
  } catch {
    return false; // Deno without --allow-env
  }
}

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** One per device: pipelines keyed by program name and shaderKey, never by sizes. */
export class PipelineCache {
  private readonly cache = new Map<string, Promise<CachedPipeline>>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.cache.size;
  }

  get(p: Program): Promise<CachedPipeline> {
    const key = `${p.name}|${p.shaderKey}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.build(p, key);
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
    }
    return hit;
  }

  private async build(p: Program, key: string): Promise<CachedPipeline> {
    const code = p.source();
    if (printShaders()) console.log(`// ${key}\n${code}`);
    const device = this.device;
    const module = device.createShaderModule({ label: `${p.name} module`, code });
    // An explicit layout: 'auto' drops bindings the WGSL does not read, which then fail to bind.
    const entries: GPUBindGroupLayoutEntry[] = p.bindings.map((b, i) => ({
      binding: i,
      visibility: ShaderStageCompute,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    entries.push({ binding: p.bindings.length, visibility: ShaderStageCompute, buffer: { type: 'uniform' } });
    const layout = device.createBindGroupLayout({ label: `${p.name} bind group layout`, entries });
    device.pushErrorScope('validation');
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await device.createComputePipelineAsync({
        label: `${p.name} [${p.shaderKey}]`,
        layout: device.createPipelineLayout({ label: `${p.name} pipeline layout`, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
    } catch (e) {
      await device.popErrorScope();
      throw fail(`webgpu: ${p.name} [${p.shaderKey}] failed to compile: ${await describeCompile(module, e)}`);
    }
    const err = await device.popErrorScope();
    if (err) throw fail(`webgpu: ${p.name} [${p.shaderKey}] failed to compile: ${err.message}`);
    return { pipeline, layout };
  }
}

async function describeCompile(module: GPUShaderModule, e: unknown): Promise<string> {
  let msg = e instanceof Error ? e.message : String(e);
  try {
    const info = await module.getCompilationInfo();
    const errs = info.messages.filter((m) => m.type === 'error');
    if (errs.length) msg += '; ' + errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
  } catch {
    /* getCompilationInfo is optional in some implementations */
  }
  return msg;
}
