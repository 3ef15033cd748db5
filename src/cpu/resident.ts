// Data the CPU backend holds for engine.upload and keepOnDevice: a private host copy. The kernels'
// Wasm memory is per call (arena.ts), so "resident" here saves the caller's copies and keeps one
// script running unchanged on both backends; it does not save the copy into Wasm memory.
import type { OperandData, ResidentData } from '../backend.js';
import { errors } from '../errors.js';

export class CpuResident implements ResidentData {
  private data: Float32Array | null;

  constructor(
    data: Float32Array,
    readonly rowLength: number,
    /** Shared by every resident of one backend; closing the backend destroys them all. */
    private readonly life: { closed: boolean },
  ) {
    this.data = data;
  }

  get length(): number {
    return this.data?.length ?? 0;
  }

  get destroyed(): boolean {
    return this.data === null || this.life.closed;
  }

  /** The data itself, for the kernels (never handed to a caller). */
  get host(): Float32Array {
    if (this.destroyed) throw errors.destroyedDeviceTensor('an operand');
    return this.data!;
  }

  async read(): Promise<Float32Array> {
    return this.host.slice();
  }

  destroy(): void {
    this.data = null;
  }
}

/** Host data of an operand: the array itself, or a resident's. */
export function hostData(x: OperandData): Float32Array {
  if (x instanceof Float32Array) return x;
  if (!(x instanceof CpuResident)) throw new Error('blocksparse internal: the CPU backend got data another backend holds');
  return x.host;
}
