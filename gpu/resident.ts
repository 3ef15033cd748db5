/// <reference types="@webgpu/types" />
// Data the WebGPU backend keeps in a GPU buffer between calls (engine.upload, keepOnDevice), in the
// layout the attention kernels read: rows of rowLength values (f32, or f16 with shader-f16) padded
// to whole vec4s. Closing the backend destroys the device, and with it every such buffer.
import type { HostData, OperandData, ResidentData } from '../src/backend.js';
import type { Dtype } from '../src/types.js';
import { errors, internal } from '../src/errors.js';
import { createFilled, padColumns, unpadColumns, type DeviceLimits } from './buffers.js';
import { BufferUsage } from './program.js';
import { readBack, type StagingPool } from './staging-pool.js';

export class GpuResident implements ResidentData {
  private current: GPUBuffer | null;

  constructor(
    buffer: GPUBuffer,
    /** Floats, unpadded. */
    readonly length: number,
    readonly rowLength: number,
    /** Shared by every resident of one backend. */
    private readonly life: { closed: boolean },
    /** Reads it back through the backend's queue of ops (gpu/index.ts). */
    private readonly reader: (r: GpuResident) => Promise<HostData>,
    /** Where destroy() puts the buffer: the backend's pool (context.ts), which may destroy it. */
    private readonly release: (b: GPUBuffer) => void = (b) => b.destroy(),
    /** 'float16': the buffer holds half floats (read() gives their bits). */
    readonly dtype: Dtype = 'float32',
  ) {
    this.current = buffer;
  }

  get destroyed(): boolean {
    return this.current === null || this.life.closed;
  }

  /** Floats per padded row (a multiple of 4). */
  get paddedRow(): number {
    return Math.ceil(this.rowLength / 4) * 4;
  }

  get buffer(): GPUBuffer {
    if (this.destroyed) throw errors.destroyedBeforeRun();
    return this.current!;
  }

  read(): Promise<HostData> {
    return this.reader(this);
  }

  destroy(): void {
    if (!this.life.closed && this.current) this.release(this.current);
    this.current = null;
  }
}

/** A buffer holding `data` (rows of rowLength padded to vec4; half-float bits as f16) that kernels bind and reads copy from. */
export function createResidentBuffer(device: GPUDevice, limits: DeviceLimits, data: HostData, rowLength: number): GPUBuffer {
  const dp = Math.ceil(rowLength / 4) * 4;
  const padded = padColumns(data, data.length / rowLength, rowLength, dp);
  const bytes = Math.max(16, padded.byteLength);
  const max = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (bytes > max) throw errors.gpuUploadTooLarge(bytes, max);
  return createFilled(device, `resident [${data.length / rowLength} × ${rowLength}]`, bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC, [{ data: padded, at: 0 }]);
}

/** Copies a resident back to the host, unpadded (an f16 one as half-float bits). */
export async function readResidentBuffer(device: GPUDevice, pool: StagingPool, r: GpuResident): Promise<HostData> {
  const rows = r.length / r.rowLength;
  const half = r.dtype === 'float16';
  const bytes = rows * r.paddedRow * (half ? 2 : 4);
  const mapped = await readBack(device, pool, 'resident readback', r.buffer, bytes);
  const data = half ? new Uint16Array(mapped) : new Float32Array(mapped);
  return unpadColumns(data, rows, r.rowLength, r.paddedRow);
}

/** The GPU buffer of an operand already on the device, or null for host data. */
export function residentBuffer(x: OperandData): GPUBuffer | null {
  if (x instanceof Float32Array || x instanceof Uint16Array) return null;
  if (!(x instanceof GpuResident)) throw internal('the WebGPU backend got data another backend holds');
  return x.buffer;
}

/** Whether an operand holds half floats: host half-float bits, or an f16 resident. */
export function isHalf(x: OperandData): boolean {
  return x instanceof Uint16Array || (!(x instanceof Float32Array) && x.dtype === 'float16');
}
