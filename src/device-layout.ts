// The public face of a layout a backend holds (types.ts DeviceLayout; selectBlocks with
// keepOnDevice). A backend that keeps selections in its own memory (WebGPU: the bytes and the
// forward's tables in GPU buffers, Backend.selectBlocksResident) gives a ResidentLayoutData, which
// the forward reads in place; the others give the host layout, which attention resolves without a
// transfer. The backward reads a held layout back once (it needs the host tables).
import type { ResidentLayoutData } from './backend.js';
import { errors } from './errors.js';
import type { BackendName, BatchedLayout, DeviceLayout } from './types.js';

// Symbol.for: a second copy of this module (a bundle beside dist/) still recognises the brand
const BRAND = Symbol.for('blocksparse.DeviceLayout');

export class DeviceLayoutHandle implements DeviceLayout {
  readonly [BRAND] = true;
  readonly block: number;
  readonly shape: readonly [number, number, number, number];
  private layout: BatchedLayout | null;
  private held: ResidentLayoutData | null;
  private alive = true;

  constructor(
    source: BatchedLayout | ResidentLayoutData,
    readonly backend: BackendName,
    /** @internal the engine that made it */ readonly owner: object,
    /** @internal called once on destroy */ private readonly onDestroy: (l: DeviceLayoutHandle) => void = () => undefined,
  ) {
    const host = 'data' in source;
    this.layout = host ? source : null;
    this.held = host ? null : source;
    this.block = source.block;
    this.shape = Object.freeze([...source.shape]) as unknown as readonly [number, number, number, number];
  }

  get destroyed(): boolean {
    return !this.alive;
  }

  /** @internal the backend's own copy, which its forward reads in place; null for a host-held layout. */
  get resident(): ResidentLayoutData | null {
    if (!this.alive) throw errors.destroyedDeviceLayout('layout');
    return this.held;
  }

  /** @internal the host layout, read back once from a backend that holds it; throws once destroyed. */
  async host(): Promise<BatchedLayout> {
    if (!this.alive) throw errors.destroyedDeviceLayout('layout');
    if (!this.layout) {
      const data = await this.held!.read();
      if (!this.alive) throw errors.destroyedDeviceLayout('layout');
      this.layout = { block: this.block, shape: [...this.shape] as BatchedLayout['shape'], data };
    }
    return this.layout;
  }

  /** @internal the host layout where it is at hand without a transfer, else null. */
  get hostNow(): BatchedLayout | null {
    if (!this.alive) throw errors.destroyedDeviceLayout('layout');
    return this.layout;
  }

  async read(): Promise<BatchedLayout> {
    const l = await this.host();
    return { block: l.block, shape: [...l.shape] as BatchedLayout['shape'], data: Uint8Array.from(l.data) };
  }

  destroy(): void {
    if (!this.alive) return;
    this.alive = false;
    this.held?.destroy();
    this.held = null;
    this.layout = null;
    this.onDestroy(this);
  }
}

export function isDeviceLayout(x: unknown): x is DeviceLayoutHandle {
  return typeof x === 'object' && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
}

/** A DeviceLayout argument checked: one of `owner`'s, not destroyed. */
export function ownDeviceLayout(name: string, layout: DeviceLayoutHandle, owner?: object): DeviceLayoutHandle {
  if (owner === undefined || layout.owner !== owner) throw errors.foreignDeviceLayout(name);
  if (layout.destroyed) throw errors.destroyedDeviceLayout(name);
  return layout;
}

/**
 * A layout argument as attention reads it: a Layout as given, a DeviceLayout of `owner` as its
 * backend's copy (`held`, which the forward reads in place) or its host layout. The engine resolves
 * a held layout for the calls that cannot read it in place (the backward) to its host layout first
 * (DeviceLayoutHandle.host).
 */
export function layoutArgument(name: string, layout: unknown, owner?: object): { given: unknown; selection?: readonly number[] } | { held: ResidentLayoutData } {
  if (!isDeviceLayout(layout)) return { given: layout };
  const own = ownDeviceLayout(name, layout, owner);
  const held = own.resident;
  return held ? { held } : { given: own.hostNow, selection: own.shape };
}

/**
 * A DeviceLayout is one layout head per query head and per batch row of the call that selected it,
 * on every backend: attention with another B or Hq is refused (not read through h % Hl), whether
 * the backend holds the selection or its host layout.
 */
export function checkSelectionShape(shape: readonly number[], B: number, H: number): void {
  if (shape[0] !== B) throw errors.mismatch('layout', 'shape[0] (B, one layout per batch row)', B, shape[0]);
  if (shape[1] !== H) throw errors.mismatch('layout', 'shape[1] (H: a DeviceLayout holds one layout head per query head)', H, shape[1]);
}
