// The public face of data a backend holds between calls (types.ts DeviceTensor): a shape, the
// backend's ResidentData, and the engine that made it, which alone may take it as an operand.
import type { ResidentData } from './backend.js';
import { errors } from './errors.js';
import type { BackendName, DeviceTensor, Tensor } from './types.js';

// Symbol.for: a second copy of this module (a bundle beside dist/) still recognises the brand
const BRAND = Symbol.for('blocksparse.DeviceTensor');

export class DeviceTensorHandle implements DeviceTensor {
  readonly [BRAND] = true;
  readonly shape: readonly number[];

  constructor(
    shape: readonly number[],
    readonly backend: BackendName,
    /** @internal */ readonly resident: ResidentData,
    /** @internal the engine that made it */ readonly owner: object,
  ) {
    this.shape = Object.freeze([...shape]);
  }

  get destroyed(): boolean {
    return this.resident.destroyed;
  }

  async read(): Promise<Tensor> {
    if (this.destroyed) throw errors.destroyedDeviceTensor('this DeviceTensor');
    return { data: await this.resident.read(), shape: [...this.shape] };
  }

  destroy(): void {
    this.resident.destroy();
  }
}

export function isDeviceTensor(x: unknown): x is DeviceTensorHandle {
  return typeof x === 'object' && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
}
