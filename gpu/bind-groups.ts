/// <reference types="@webgpu/types" />
// Bind groups kept for reuse. Creating one was the dearest WebGPU call of a decode step on Dawn
// for Node (bench/results/h100/README.md); in a loop the same buffers come back (the pools hand
// out the buffer given last), so a group made for them is made once. A group is forgotten when
// one of its buffers is destroyed (the buffer's destroy is wrapped to say so). A kept group holds
// its buffers' memory even where the app dropped them without destroy (GC would have freed them),
// so the least recently used go beyond `capacity` groups or bindGroupTuning.maxBytes of distinct
// buffers.

/** Internal knobs (tests): the most bytes of distinct buffers the kept groups may hold. */
export const bindGroupTuning = {
  maxBytes: 2 * 2 ** 30,
};

export interface BoundBuffer {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly size?: number;
}

interface Entry {
  readonly group: GPUBindGroup;
  /** Ids of the buffers it binds. */
  readonly buffers: readonly number[];
}

export class BindGroupCache {
  /** In use order: the first is the least recently used. */
  private readonly groups = new Map<string, Entry>();
  private readonly ids = new WeakMap<object, number>();
  /** Per buffer id, the keys of the groups that bind it. */
  private readonly users = new Map<number, Set<string>>();
  /** Per buffer id, its size in bytes. */
  private readonly sizes = new Map<number, number>();
  /** Bytes of the distinct buffers the kept groups bind. */
  private heldBytes = 0;
  private nextId = 1;

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = 256,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  /** The group binding `buffers` at bindings 0, 1, … under `layout`: a kept one, or a new one kept. */
  get(label: string, layout: GPUBindGroupLayout, buffers: readonly BoundBuffer[]): GPUBindGroup {
    const make = () => this.device.createBindGroup({
      label,
      layout,
      entries: buffers.map((b, binding) => ({ binding, resource: b.size === undefined ? { buffer: b.buffer } : { buffer: b.buffer, offset: b.offset ?? 0, size: b.size } })),
    });
    const ids = buffers.map((b) => this.bufferId(b.buffer));
    // a buffer whose destroy could not be wrapped is never kept in a group
    if (ids.includes(0)) return make();
    let key = String(this.objectId(layout));
    buffers.forEach((b, i) => (key += `|${ids[i]}:${b.offset ?? 0}:${b.size ?? -1}`));
    const kept = this.groups.get(key);
    if (kept) {
      this.groups.delete(key);
      this.groups.set(key, kept);
      return kept.group;
    }
    const group = make();
    // a group whose own buffers pass the bytes is used, not kept (nor does it push the others out)
    const distinct = new Map(buffers.map((b, i) => [ids[i]!, b.buffer.size]));
    let own = 0;
    for (const bytes of distinct.values()) own += bytes;
    if (own > bindGroupTuning.maxBytes) return group;
    this.groups.set(key, { group, buffers: ids });
    for (const [id, bytes] of distinct) {
      let keys = this.users.get(id);
      if (!keys) {
        this.users.set(id, (keys = new Set()));
        this.sizes.set(id, bytes);
        this.heldBytes += bytes;
      }
      keys.add(key);
    }
    while (this.groups.size > this.capacity || this.heldBytes > bindGroupTuning.maxBytes) {
      this.forget(this.groups.keys().next().value!);
    }
    return group;
  }

  /** Bytes of the distinct buffers the kept groups bind. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Forgets every kept group (on close, and after an out-of-memory error). */
  clear(): void {
    this.groups.clear();
    this.users.clear();
    this.sizes.clear();
    this.heldBytes = 0;
  }

  private forget(key: string): void {
    const entry = this.groups.get(key);
    if (!entry) return;
    this.groups.delete(key);
    for (const id of entry.buffers) {
      const keys = this.users.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.release(id);
    }
  }

  /** No kept group binds buffer `id` any more. */
  private release(id: number): void {
    if (!this.users.delete(id)) return;
    this.heldBytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
  }

  private forgetBuffer(id: number): void {
    for (const key of [...(this.users.get(id) ?? [])]) this.forget(key);
    this.release(id);
  }

  private objectId(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** The buffer's id, its destroy wrapped to forget its groups first; 0 where it cannot be wrapped. */
  private bufferId(buffer: GPUBuffer): number {
    const known = this.ids.get(buffer);
    if (known !== undefined) return known;
    const id = this.nextId++;
    const destroy = buffer.destroy;
    const cache = this;
    try {
      buffer.destroy = function (this: GPUBuffer) {
        cache.forgetBuffer(id);
        return destroy.call(this);
      };
    } catch {
      // a frozen or native object that refuses the property
    }
    const wrapped = buffer.destroy !== destroy;
    this.ids.set(buffer, wrapped ? id : 0);
    return wrapped ? id : 0;
  }
}
