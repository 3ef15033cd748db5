// The public face of data a backend holds between calls (types.ts DeviceTensor): a shape, the
// backend's ResidentData (half floats where the backend stores float16, else float32), the storage read() gives back, and the
// engine that made it, which alone may take it as an operand.
import type { ResidentData } from './backend.js';
import { dtypeOf, hostTensor, type Storage } from './dtype.js';
import { errors } from './errors.js';
import type { BackendName, DeviceTensor, Dtype, TensorOf } from './types.js';

// Symbol.for: a second copy of this module (a bundle beside dist/) still recognises the brand
const BRAND = Symbol.for('blocksparse.DeviceTensor');

export class DeviceTensorHandle<D extends Dtype = Dtype> implements DeviceTensor<D> {
  readonly [BRAND] = true;
  readonly shape: readonly number[];

  constructor(
    shape: readonly number[],
    readonly backend: BackendName,
    /** @internal */ readonly resident: ResidentData,
    /** @internal the engine that made it */ readonly owner: object,
    /** @internal how read() gives the data back (and results computed from it come back) */ readonly storage: Storage = 'float32',
  ) {
    this.shape = Object.freeze([...shape]);
  }

  get dtype(): D {
    return dtypeOf(this.storage) as D;
  }

  get destroyed(): boolean {
    return this.resident.destroyed;
  }

  async read(): Promise<TensorOf<D>> {
    if (this.destroyed) throw errors.destroyedDeviceTensor('this DeviceTensor');
    return hostTensor(await this.resident.read(), [...this.shape], this.storage) as TensorOf<D>;
  }

  destroy(): void {
    this.resident.destroy();
  }
}

export function isDeviceTensor(x: unknown): x is DeviceTensorHandle {
  return typeof x === 'object' && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
}
