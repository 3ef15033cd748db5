// The one copy of a compiled layout's tables into the Wasm arena: the backend does it once per
// CompiledLayout (and caches the pointers); benchmarks and tests that drive the host functions on
// their own arena call the same function.
import type { CompiledLayout } from '../layouts/compile.js';
import type { Arena } from './arena.js';
import type { LayoutTablePointers } from './context.js';

export interface ArenaTables {
  readonly pointers: LayoutTablePointers;
  /** Its persistent blocks, [ptr, bytes], to free on eviction. */
  readonly blocks: ReadonlyArray<readonly [number, number]>;
  /** Their bytes in all (tableBytes). */
  readonly bytes: number;
}

/** The arrays copied, in order: the row and column tables, then each causal value's readiness. */
function tableArrays(L: CompiledLayout): Array<Int32Array | Uint8Array> {
  const [plain, causal] = [L.causalTables(false), L.causalTables(true)];
  return [L.kvPtr, L.kvIndices, L.qPtr, L.qIndices, L.qEntries, L.causalKind, plain.readyOrder, plain.readyPtr, causal.readyOrder, causal.readyPtr];
}

const blockBytes = (a: Int32Array | Uint8Array): number => Math.max(4, a.byteLength);

/** Bytes uploadLayoutTables(arena, L) will take, before it runs (the backend's cache budget). */
export function tableBytes(L: CompiledLayout): number {
  return tableArrays(L).reduce((sum, a) => sum + blockBytes(a), 0);
}

/** Copies L's tables into persistent arena blocks; between calls only. */
export function uploadLayoutTables(arena: Arena, L: CompiledLayout): ArenaTables {
  const blocks: Array<[number, number]> = [];
  const [kvPtr, kvIndices, qPtr, qIndices, qEntries, causalKind, order0, ready0, order1, ready1] = tableArrays(L).map((a) => {
    const bytes = blockBytes(a);
    const ptr = arena.allocPersistent(bytes);
    blocks.push([ptr, bytes]);
    new Uint8Array(arena.memory.buffer, ptr, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return ptr;
  });
  const pointers: LayoutTablePointers = {
    kvPtr, kvIndices, qPtr, qIndices, qEntries, causalKind,
    readyOrder: [order0, order1],
    readyPtr: [ready0, ready1],
  };
  return { pointers, blocks, bytes: blocks.reduce((sum, [, n]) => sum + n, 0) };
}
