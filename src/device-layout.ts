// The public face of a layout a backend holds (types.ts DeviceLayout; selectBlocks with
// keepOnDevice). Today every backend holds the host layout here, so attention resolves it without
// a transfer; a backend-resident version (the WebGPU bytes kept in GPU memory) keeps this face.
import { errors } from './errors.js';
import type { BackendName, BatchedLayout, DeviceLayout } from './types.js';

// Symbol.for: a second copy of this module (a bundle beside dist/) still recognises the brand
const BRAND = Symbol.for('blocksparse.DeviceLayout');

export class DeviceLayoutHandle implements DeviceLayout {
  readonly [BRAND] = true;
  readonly block: number;
  readonly shape: readonly [number, number, number, number];
  private layout: BatchedLayout | null;

  constructor(
    layout: BatchedLayout,
    readonly backend: BackendName,
    /** @internal the engine that made it */ readonly owner: object,
    /** @internal called once on destroy */ private readonly onDestroy: (l: DeviceLayoutHandle) => void = () => undefined,
  ) {
    this.layout = layout;
    this.block = layout.block;
    this.shape = Object.freeze([...layout.shape]) as unknown as readonly [number, number, number, number];
  }

  get destroyed(): boolean {
    return this.layout === null;
  }

  /** @internal the layout as attention reads it; throws once destroyed. */
  get host(): BatchedLayout {
    if (!this.layout) throw errors.destroyedDeviceLayout('layout');
    return this.layout;
  }

  async read(): Promise<BatchedLayout> {
    const l = this.host;
    return { block: l.block, shape: [...l.shape] as BatchedLayout['shape'], data: Uint8Array.from(l.data) };
  }

  destroy(): void {
    if (!this.layout) return;
    this.layout = null;
    this.onDestroy(this);
  }
}

export function isDeviceLayout(x: unknown): x is DeviceLayoutHandle {
  return typeof x === 'object' && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
}

/** A layout argument as attention reads it: a DeviceLayout of `owner` resolved to its host layout. */
export function hostLayoutOf(name: string, layout: unknown, owner?: object): unknown {
  if (!isDeviceLayout(layout)) return layout;
  if (owner === undefined || layout.owner !== owner) throw errors.foreignDeviceLayout(name);
  if (layout.destroyed) throw errors.destroyedDeviceLayout(name);
  return layout.host;
}
