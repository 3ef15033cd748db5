/// <reference types="@webgpu/types" />
// Uploads, outputs and readback, and the two packed inputs every attention-like kernel reads: the
// layout tables (one Int32 buffer per CompiledLayout, uploaded once and cached) and the additive
// score modifiers (rpe, key padding, attention mask in one buffer, offsets in the uniforms).
import type { CompiledLayout } from '../src/layouts/compile.js';
import { BufferUsage, MapModeRead } from './program.js';
import type { StagingPool } from './staging-pool.js';
import { errors } from '../src/errors.js';
import { wall } from '../src/attention-parts.js';

/** Scores at or below THRESH count as masked (−∞). WGSL may assume no infinities at run time, so
 * −∞ never reaches a shader: mask values below MASKED are clamped to it on upload (see sanitize). */
export const MASKED = -1e30;
export const THRESH = -1e29;

export interface DeviceLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

export function checkSize(limits: DeviceLimits, label: string, bytes: number): void {
  const max = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (bytes > max) {
    throw wall(errors.gpuBufferTooLarge(label, bytes, limits.maxStorageBufferBindingSize, limits.maxBufferSize));
  }
}

/** Storage buffers must be a multiple of 4 bytes and non-empty to bind. */
export function padBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/**
 * Uploads of at most this many bytes go through queue.writeBuffer (the implementation's own
 * staging); larger ones through mappedAtCreation (one copy). A mapped creation costs a staging
 * allocation per buffer, which a small op's wall time feels (bench/gpu/call-overhead.ts).
 */
export const SMALL_UPLOAD_BYTES = 4 * 2 ** 20;

/** A part of an upload: `data` at byte offset `at`. */
export type UploadPart = { data: Float32Array | Int32Array | Uint16Array; at: number };

/**
 * Whether an upload of `size` bytes can go through queue.writeBuffer: small, and no part a view of
 * shared memory (writeBuffer may refuse one, which a mapped range copies from as any other; a page
 * that is not cross-origin isolated has no SharedArrayBuffer at all).
 */
export function queueWritable(size: number, parts: readonly UploadPart[]): boolean {
  const shared = typeof SharedArrayBuffer === 'undefined' ? null : SharedArrayBuffer;
  return size <= SMALL_UPLOAD_BYTES && parts.every(({ data }) => !(shared && data.buffer instanceof shared));
}

/** queue.writeBuffer of each part at its offset. */
export function writeParts(device: GPUDevice, buffer: GPUBuffer, parts: readonly UploadPart[]): void {
  for (const { data, at } of parts) {
    if (data.byteLength === 0) continue;
    // writeBuffer takes whole 4-byte words: an odd count of half floats is padded with a zero
    const words = data.byteLength % 4 === 0 ? data : (() => {
      const padded = new Uint16Array(data.length + 1);
      padded.set(data as Uint16Array);
      return padded;
    })();
    device.queue.writeBuffer(buffer, at, words.buffer, words.byteOffset, words.byteLength);
  }
}

/** A new buffer of `size` bytes (`usage` gains COPY_DST) holding `parts` at their byte offsets. */
export function createFilled(device: GPUDevice, label: string, size: number, usage: number, parts: readonly UploadPart[]): GPUBuffer {
  if (queueWritable(size, parts)) {
    const buffer = device.createBuffer({ label, size, usage: usage | BufferUsage.COPY_DST });
    writeParts(device, buffer, parts);
    return buffer;
  }
  const buffer = device.createBuffer({ label, size, usage: usage | BufferUsage.COPY_DST, mappedAtCreation: true });
  const mapped = buffer.getMappedRange();
  for (const { data, at } of parts) {
    const view = data instanceof Int32Array ? new Int32Array(mapped, at, data.length) : data instanceof Uint16Array ? new Uint16Array(mapped, at, data.length) : new Float32Array(mapped, at, data.length);
    view.set(data as never);
  }
  buffer.unmap();
  return buffer;
}

/** A read-only storage buffer holding `parts` one after another (each at its element offset). */
export function uploadParts(
  device: GPUDevice,
  limits: DeviceLimits,
  label: string,
  parts: readonly (Float32Array | Int32Array)[],
): { buffer: GPUBuffer; offsets: number[] } {
  const offsets: number[] = [];
  let n = 0;
  for (const p of parts) {
    offsets.push(n);
    n += p.length;
  }
  checkSize(limits, label, n * 4);
  const buffer = createFilled(device, label, padBytes(n * 4), BufferUsage.STORAGE, parts.map((data, i) => ({ data, at: offsets[i]! * 4 })));
  return { buffer, offsets };
}

/** A read-only storage buffer holding `data` (half-float bits as they are). */
export function upload(device: GPUDevice, limits: DeviceLimits, label: string, data: Float32Array | Int32Array | Uint16Array): GPUBuffer {
  if (!(data instanceof Uint16Array)) return uploadParts(device, limits, label, [data]).buffer;
  checkSize(limits, label, data.byteLength);
  return createFilled(device, label, padBytes(data.byteLength), BufferUsage.STORAGE, [{ data, at: 0 }]);
}

/** A storage buffer the kernels write and readback copies from (`extraUsage`: e.g. COPY_DST). */
export function createOutput(device: GPUDevice, limits: DeviceLimits, label: string, bytes: number, extraUsage = 0): GPUBuffer {
  checkSize(limits, label, bytes);
  return device.createBuffer({ label, size: padBytes(bytes), usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | extraUsage });
}

export interface Readback {
  readonly buffer: GPUBuffer;
  /** Bytes to read from offset 0. */
  readonly bytes: number;
}

/** Encodes copies of `reads` into staging buffers from `pool`; `finish` maps them after submit and gives them back. */
export function encodeReadback(
  pool: StagingPool,
  encoder: GPUCommandEncoder,
  reads: readonly Readback[],
): { finish: () => Promise<ArrayBuffer[]> } {
  const staging = reads.map((r, i) => {
    const s = pool.take(`readback ${i} (${r.buffer.label})`, r.bytes);
    if (r.bytes > 0) encoder.copyBufferToBuffer(r.buffer, 0, s, 0, Math.ceil(r.bytes / 4) * 4);
    return s;
  });
  const finish = async (): Promise<ArrayBuffer[]> => {
    try {
      await Promise.all(staging.map((s) => s.mapAsync(MapModeRead)));
      const out = staging.map((s, i) => s.getMappedRange().slice(0, reads[i].bytes));
      for (const s of staging) {
        s.unmap();
        pool.give(s);
      }
      return out;
    } catch (e) {
      for (const s of staging) s.destroy();
      throw e;
    }
  };
  return { finish };
}

/**
 * Element offsets of each of a compiled layout's tables (src/layouts/compile.ts) inside its one
 * Int32 buffer; per causal value (indexed by +causal) the longest-first row and column orders.
 */
export interface LayoutTables {
  readonly buffer: GPUBuffer;
  readonly kvPtr: number;
  readonly kvIndices: number;
  readonly qPtr: number;
  readonly qIndices: number;
  readonly qEntries: number;
  readonly causalKind: number;
  readonly entryRow: number;
  readonly rowOrder: readonly [number, number];
  readonly colOrder: readonly [number, number];
}

/**
 * Uploads each CompiledLayout's tables once per device and keeps them while the layout lives
 * (WeakMap), destroying a buffer when its layout is collected (FinalizationRegistry) or on close.
 */
/** What the decode kernels read of a layout's tables: its block rows' entries. */
export type RowTables = Pick<LayoutTables, 'buffer' | 'kvPtr' | 'kvIndices'>;

export class LayoutTableCache {
  private readonly map = new WeakMap<CompiledLayout, LayoutTables>();
  private readonly rowMap = new WeakMap<CompiledLayout, RowTables>();
  private readonly live = new Set<GPUBuffer>();
  private readonly registry = new FinalizationRegistry<GPUBuffer>((b) => {
    if (this.live.delete(b)) b.destroy();
  });

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: DeviceLimits,
  ) {}

  get(layout: CompiledLayout): LayoutTables {
    const hit = this.map.get(layout);
    if (hit) return hit;
    const [plain, causal] = [layout.causalTables(false), layout.causalTables(true)];
    const label = `layout tables [${layout.batches}, ${layout.heads}, ${layout.rows}, ${layout.cols}] block ${layout.block} nnz ${layout.nnz}`;
    const { buffer, offsets } = uploadParts(this.device, this.limits, label, [
      layout.kvPtr,
      layout.kvIndices,
      layout.qPtr,
      layout.qIndices,
      layout.qEntries,
      Int32Array.from(layout.causalKind),
      layout.entryRow,
      plain.rowOrder,
      causal.rowOrder,
      plain.colOrder,
      causal.colOrder,
    ]);
    const tables: LayoutTables = {
      buffer,
      kvPtr: offsets[0],
      kvIndices: offsets[1],
      qPtr: offsets[2],
      qIndices: offsets[3],
      qEntries: offsets[4],
      causalKind: offsets[5],
      entryRow: offsets[6],
      rowOrder: [offsets[7], offsets[8]],
      colOrder: [offsets[9], offsets[10]],
    };
    this.map.set(layout, tables);
    this.live.add(buffer);
    this.registry.register(layout, buffer);
    return tables;
  }

  /**
   * The row tables alone (kvPtr, kvIndices), for the decode kernels: a step's fresh selection
   * uploads those two, not the transposes and the four orders the prefill kernels read (sorts over
   * S·R and S·C items). A layout's full tables serve where they were built.
   */
  rowTables(layout: CompiledLayout): RowTables {
    const hit = this.map.get(layout) ?? this.rowMap.get(layout);
    if (hit) return hit;
    const label = `layout row tables [${layout.batches}, ${layout.heads}, ${layout.rows}, ${layout.cols}] block ${layout.block} nnz ${layout.nnz}`;
    const { buffer, offsets } = uploadParts(this.device, this.limits, label, [layout.kvPtr, layout.kvIndices]);
    const tables: RowTables = { buffer, kvPtr: offsets[0], kvIndices: offsets[1] };
    this.rowMap.set(layout, tables);
    this.live.add(buffer);
    this.registry.register(layout, buffer);
    return tables;
  }

  destroyAll(): void {
    for (const b of this.live) b.destroy();
    this.live.clear();
  }
}

/**
 * Copies `x` with every value below MASKED (−∞ included) raised to MASKED and every one above −MASKED
 * (+∞ included) lowered to it; `x` itself if none. A bias past that would overflow the kernels'
 * base-2 scores (a row of +3e38 read NaN); it outweighs any score there as it would unclamped.
 */
export function sanitizeMask(x: Float32Array): Float32Array {
  const out = (v: number) => v < MASKED || v > -MASKED;
  let i = 0;
  while (i < x.length && !out(x[i]!)) i++;
  if (i === x.length) return x;
  const y = x.slice();
  for (; i < y.length; i++) if (out(y[i]!)) y[i] = y[i]! < 0 ? MASKED : -MASKED;
  return y;
}

const OFFSET_SPLIT = 4096;

/** WGSL: batch row `b`'s query offset, from the two floats uploadBias stores it as. */
export function qOffsetOf(b: string): string {
  return `(u32(bias[u.offOff + 2u * ${b}]) * ${OFFSET_SPLIT}u + u32(bias[u.offOff + 2u * ${b} + 1u]))`;
}

export interface BiasBuffer {
  readonly buffer: GPUBuffer;
  readonly rpeOff: number;
  readonly kpmOff: number;
  readonly amOff: number;
  /** Where the query offsets [B] sit (two floats each: qOffsetOf), for the general attention programs; 0 if not given. */
  readonly offOff: number;
  readonly hasRpe: boolean;
  readonly hasKpm: boolean;
  readonly hasAm: boolean;
}

/**
 * rpe [B,H,N,Nk], keyPadding [B,Nk] and attnMask [N,Nk] (additive) packed into one buffer, then
 * `qOffset` [B] where given, each as two floats (offset / 4096 and offset % 4096, exact integers
 * both): one float holds integers exactly only below 2^24, and offsets reach 2^31.
 */
export function uploadBias(
  put: (label: string, parts: readonly Float32Array[]) => GPUBuffer,
  masks: { rpe: Float32Array | null; keyPadding: Float32Array | null; attnMask: Float32Array | null },
  qOffset?: Int32Array,
): BiasBuffer {
  const parts: Float32Array[] = [];
  const offs = { rpe: 0, kpm: 0, am: 0, off: 0 };
  let n = 0;
  const add = (key: keyof typeof offs, x: Float32Array | null): void => {
    if (!x) return;
    offs[key] = n;
    n += x.length;
    parts.push(sanitizeMask(x));
  };
  add('rpe', masks.rpe);
  add('kpm', masks.keyPadding);
  add('am', masks.attnMask);
  if (qOffset) add('off', Float32Array.from({ length: 2 * qOffset.length }, (_, i) => (i & 1 ? qOffset[i >> 1]! % OFFSET_SPLIT : Math.floor(qOffset[i >> 1]! / OFFSET_SPLIT))));
  if (parts.length === 0) parts.push(new Float32Array(4));
  const buffer = put('score bias (rpe | keyPadding | attnMask)', parts);
  return {
    buffer,
    rpeOff: offs.rpe,
    kpmOff: offs.kpm,
    amOff: offs.am,
    offOff: offs.off,
    hasRpe: !!masks.rpe,
    hasKpm: !!masks.keyPadding,
    hasAm: !!masks.attnMask,
  };
}

/** A zeroed array of `x`'s type (float32 values or half-float bits). */
const like = <T extends Float32Array | Uint16Array>(x: T, n: number): T => (x instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n)) as T;

/** Pads each row of a [rows, d] matrix to `dp` columns (zeros), for the vec4 kernels. */
export function padColumns<T extends Float32Array | Uint16Array>(x: T, rows: number, d: number, dp: number): T {
  if (d === dp) return x;
  const y = like(x, rows * dp);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * d, r * d + d), r * dp);
  return y;
}

/** Inverse of padColumns. */
export function unpadColumns<T extends Float32Array | Uint16Array>(y: T, rows: number, d: number, dp: number): T {
  if (d === dp) return y;
  const x = like(y, rows * d);
  for (let r = 0; r < rows; r++) x.set(y.subarray(r * dp, r * dp + d), r * d);
  return x;
}
