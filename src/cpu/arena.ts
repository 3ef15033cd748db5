// The allocator of the kernels' linear memory, held on the JavaScript side: the AssemblyScript
// runtime is a stub with no heap, so every tensor, table and scratch tile lives where we put it.
// Below `base`, persistent blocks that survive calls (layout tables, DeviceTensors), first fit with
// the holes kept sorted and merged; above it, a bump region reset after every call.
import { MAX_PAGES } from './wasm.js';
import { errors, internal } from '../errors.js';
// a call that does not fit may run in parts (src/attention-parts.ts)
import { wall } from '../attention-parts.js';

const PAGE = 65536;

/** Internal knob: a lower wall than 32-bit Wasm's, for tests of what happens at the wall. */
export const arenaTuning = { maxBytes: Infinity };


const ALIGN = 64; // a cache line: tiles never straddle one needlessly

/** The bytes alloc(bytes) takes. */
export const allocatedBytes = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN;

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** Start of per-call allocations; below it, persistent ones. */
  private base: number;
  private top: number;
  /** Holes in the persistent region, [ptr, bytes], sorted by ptr, never adjacent, none ending at base. */
  private holes: Array<[number, number]> = [];

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
    this.base = ALIGN; // keep 0 free so that 0 can mean "no pointer"
    this.top = this.base;
  }

  /** Maximum bytes the memory can hold. */
  get limit(): number {
    return MAX_PAGES * PAGE;
  }

  /** Frees every per-call allocation. */
  reset(): void {
    this.top = this.base;
  }

  /** Persistent bytes in use (holes not counted). */
  get persistentBytes(): number {
    return this.base - ALIGN - this.holes.reduce((sum, [, bytes]) => sum + bytes, 0);
  }

  private betweenCalls(what: string): void {
    if (this.top !== this.base) throw internal(`persistent ${what} during a call`);
  }

  /** Allocates persistent bytes; only while nothing per-call is live (between calls, or first in one). */
  allocPersistent(bytes: number): number {
    this.betweenCalls('allocation');
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const at = this.holes.findIndex(([, free]) => free >= size);
    if (at >= 0) {
      const [ptr, free] = this.holes[at];
      if (free === size) this.holes.splice(at, 1);
      else this.holes[at] = [ptr + size, free - size];
      return ptr;
    }
    const ptr = this.alloc(size);
    this.base = this.top;
    return ptr;
  }

  /** Frees a block of allocPersistent(bytes); only while nothing per-call is live. */
  freePersistent(ptr: number, bytes: number): void {
    this.betweenCalls('free');
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let i = this.holes.findIndex(([p]) => p > ptr);
    if (i < 0) i = this.holes.length;
    this.holes.splice(i, 0, [ptr, size]);
    // merge with the next hole, then the previous one
    if (i + 1 < this.holes.length && ptr + size === this.holes[i + 1][0]) {
      this.holes[i][1] += this.holes[i + 1][1];
      this.holes.splice(i + 1, 1);
    }
    if (i > 0 && this.holes[i - 1][0] + this.holes[i - 1][1] === ptr) {
      this.holes[i - 1][1] += this.holes[i][1];
      this.holes.splice(i, 1);
    }
    // a hole at the end gives its bytes back to the per-call region
    const [last, lastBytes] = this.holes[this.holes.length - 1];
    if (last + lastBytes === this.base) {
      this.holes.pop();
      this.base = last;
      this.top = last;
    }
  }

  /** Allocates `bytes` (64-byte aligned), growing the memory when needed. */
  alloc(bytes: number): number {
    const ptr = this.top;
    const end = ptr + allocatedBytes(bytes);
    this.ensure(end);
    this.top = end;
    return ptr;
  }

  private ensure(end: number): void {
    const maxBytes = this.maxBytes();
    if (end > maxBytes) {
      throw wall(errors.wasmMemoryLimit(end, maxBytes));
    }
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // grow with headroom, so that a sequence of slightly larger calls does not grow every time
    const want = Math.min(maxBytes, Math.max(end, have * 1.5));
    try {
      this.memory.grow(Math.ceil((want - have) / PAGE));
    } catch {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw wall(errors.wasmMemoryRefused(end, e));
      }
    }
  }

  /** Bytes that per-call allocations may still take before the wall (the host may refuse less). */
  get headroom(): number {
    return this.maxBytes() - this.top;
  }

  /**
   * Whether allocations of these sizes, in turn, stay below the wall (the host may still refuse
   * to grow the memory that far).
   */
  fits(sizes: readonly number[]): boolean {
    return sizes.reduce((end, bytes) => end + allocatedBytes(bytes), this.top) <= this.maxBytes();
  }

  private maxBytes(): number {
    return Math.min(this.limit, arenaTuning.maxBytes);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  /** Copies `src` in and returns its pointer. */
  putF32(src: Float32Array): number {
    const ptr = this.alloc(src.byteLength);
    this.f32(ptr, src.length).set(src);
    return ptr;
  }

  putI32(src: Int32Array): number {
    const ptr = this.alloc(src.byteLength);
    this.i32(ptr, src.length).set(src);
    return ptr;
  }

  /** Copies `length` bytes out into a new array. */
  takeU8(ptr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    // V8 copies out of shared memory an element at a time: as 8-byte words where they line up
    // (a 16 KiB selection 13 -> 4 us; bench/results/README.md), else byte by byte
    const words = ptr % 8 === 0 ? length >> 3 : 0;
    if (words > 0) new Float64Array(out.buffer, 0, words).set(new Float64Array(this.memory.buffer, ptr, words));
    const tail = words << 3;
    if (tail < length) out.set(new Uint8Array(this.memory.buffer, ptr + tail, length - tail), tail);
    return out;
  }

  /** Copies `length` floats out into a new array (results never alias Wasm memory). */
  takeF32(ptr: number, length: number): Float32Array {
    // allocate + set, not slice(): slice of a view on a SharedArrayBuffer ran several times
    // slower in V8 (bench/results/README.md)
    const out = new Float32Array(length);
    out.set(this.f32(ptr, length));
    return out;
  }
}
