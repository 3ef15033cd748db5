// The handles an engine must destroy on close (KV caches, DeviceLayouts) without keeping them
// alive: held strongly, a dropped cache's blocks of Wasm memory stayed reachable until close (its
// resident's FinalizationRegistry never ran), and a decode loop that drops its held selections
// grew the engine's set without bound. Iterable, unlike a WeakSet.
export class WeakHandles<T extends object> {
  private readonly refs = new Set<WeakRef<T>>();
  private readonly refOf = new WeakMap<T, WeakRef<T>>();
  private readonly gone = new FinalizationRegistry<WeakRef<T>>((ref) => this.refs.delete(ref));

  add(handle: T): void {
    const ref = new WeakRef(handle);
    this.refs.add(ref);
    this.refOf.set(handle, ref);
    this.gone.register(handle, ref, ref);
  }

  delete(handle: T): void {
    const ref = this.refOf.get(handle);
    if (!ref) return;
    this.refs.delete(ref);
    this.refOf.delete(handle);
    this.gone.unregister(ref);
  }

  /** The handles still alive. */
  alive(): T[] {
    return [...this.refs].map((r) => r.deref()).filter((h): h is T => h !== undefined);
  }

  get size(): number {
    return this.refs.size;
  }
}
