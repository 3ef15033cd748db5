// A Layout compiled once into every table the backends read (Triton's blocksparse LUTs, named like
// FlexAttention's BlockMask): `kv*` walk a block row's kept columns (forward, dQ), `q*` walk a block
// column's kept rows (dK, dV), so that each thread or workgroup owns disjoint outputs. What a value
// of `causal` keeps (counts, the full/partial split, longest-first orders, readiness) is compiled
// lazily per value and cached here too (causal-tables.ts). Nothing else derives tables from
// layout.data: backends upload these (src/cpu/tables.ts, gpu/buffers.ts), once per compiled layout.
// A selection held as its active rows (selected-layout.ts) compiles from those rows, never its data.
//
// Tables are indexed by layout slot: a layout of shape [Bl, Hl, R, C] has Bl·Hl slots, and batch
// row b, query head h reads slot slotOf(b, h) = (b % Bl)·Hl + h % Hl (one layout per batch row
// when Bl = B, layout heads shared cyclically when Hl < H). Today's layouts are [H, R, C]: Bl = 1,
// Hl = H, and slotOf(b, h) = h.
import type { BatchedLayout, Layout } from '../types.js';
import { buildCausalTables, CausalKind, type CausalTables } from './causal-tables.js';
import { layoutToString } from './describe.js';
import { rowsBehind, selectedRows, type SelectedRows } from './selected-layout.js';

export { CausalKind, longestFirst, type Balance, type CausalTables } from './causal-tables.js';


/**
 * The format, as a loop that rebuilds the layout (slot s, block row r, block column c):
 *
 *     for (let e = kvPtr[s*R + r]; e < kvPtr[s*R + r + 1]; e++) dense[(s*R + r)*C + kvIndices[e]] = 1;
 *
 * e is the entry: the e-th kept block in (slot, row, column) order, the order a BlockSparseTensor
 * stores its blocks in. The transposed tables list the same entries by column:
 *
 *     for (let t = qPtr[s*C + c]; t < qPtr[s*C + c + 1]; t++) dense[(s*R + qIndices[t])*C + c] = 1; // entry qEntries[t]
 *
 * causalTables(causal) adds, per block row and column, how many of those blocks a call visits and
 * which need no mask (BlockMask's kv_num_blocks / full_kv_num_blocks and q_* twins).
 */
export class CompiledLayout {
  readonly block: number;
  /** Bl: layout batch rows (1: one layout for every batch row). */
  readonly batches: number;
  /** Hl: layout heads. */
  readonly heads: number;
  /** Bl·Hl: what the tables are indexed by (see slotOf). */
  readonly slots: number;
  /** Block rows R (query blocks) and block columns C (key blocks); R ≠ C is allowed here. */
  readonly rows: number;
  readonly cols: number;
  /** Kept blocks over all slots. */
  readonly nnz: number;
  /** Kept blocks divided by slots·R·C. */
  readonly density: number;
  /** [S·R + 1]: entries of block row i = s·R + r are kvPtr[i] .. kvPtr[i + 1]. */
  readonly kvPtr: Int32Array;
  /** [nnz]: the column of each entry, ascending within a row. The entry index is the position. */
  readonly kvIndices: Int32Array;
  /** [nnz]: per entry, its block row s·R + r (sdd finds a block's row without a search). */
  readonly entryRow: Int32Array;
  /**
   * [nnz]: per entry, the CausalKind `causal` gives it, from its block row and column (query
   * offset 0: the diagonal is r = c; rectangular layouts will measure it from absolute positions).
   */
  readonly causalKind: Uint8Array;
  /** [S·R]: kept blocks per block row (kvPtr's differences), causal ignored, and the most any row has. */
  readonly rowBlocks: Int32Array;
  readonly maxRowBlocks: number;
  /** [S]: kept blocks per slot (its entries), and the most any slot has. */
  readonly slotBlocks: Int32Array;
  readonly maxSlotBlocks: number;
  private readonly byCausal: [CausalTables | null, CausalTables | null] = [null, null];
  /** The transposed tables, built at their first read: a decode step's fresh selection reads only its rows'. */
  private transposed: ColumnTables | undefined;

  /** [S·C + 1]: the transpose, per block column j = s·C + c. */
  get qPtr(): Int32Array {
    return this.columns().qPtr;
  }
  /** [nnz]: the row of each transposed entry, ascending within a column. */
  get qIndices(): Int32Array {
    return this.columns().qIndices;
  }
  /** [nnz]: for each transposed entry, its entry index (its block in a BlockSparseTensor). */
  get qEntries(): Int32Array {
    return this.columns().qEntries;
  }
  /** [S·C]: kept blocks per block column, causal ignored. */
  get colBlocks(): Int32Array {
    return this.columns().colBlocks;
  }

  /**
   * `source`: where the rows are read from (compileLayout passes a selection's rows); every row
   * outside its spans is empty. Default: layout.data, every row.
   */
  constructor(readonly layout: Layout | BatchedLayout, source?: RowSource) {
    const [Bl, Hl, R, C] = layoutDims(layout);
    const S = Bl * Hl;
    this.block = layout.block;
    this.batches = Bl;
    this.heads = Hl;
    this.slots = S;
    this.rows = R;
    this.cols = C;
    const { data, spans } = source ?? { data: layout.data, spans: [[0, S * R, 0]] };
    const rowBlocks = new Int32Array(S * R);
    let nnz = 0;
    let maxRow = 0;
    const words = wordView(data);
    for (const [i0, i1, at] of spans) {
      for (let i = i0; i < i1; i++) {
        const n = keptColumns(data, words, (at + i - i0) * C, C, null, 0);
        rowBlocks[i] = n;
        nnz += n;
        maxRow = Math.max(maxRow, n);
      }
    }
    // rows outside the spans are empty: their offsets repeat the last span's end (a decode step's
    // selection holds one row per head of thousands)
    const kvPtr = new Int32Array(S * R + 1);
    let filled = 0;
    for (const [i0, i1] of spans) {
      kvPtr.fill(kvPtr[filled], filled + 1, i0 + 1);
      for (let i = i0; i < i1; i++) kvPtr[i + 1] = kvPtr[i] + rowBlocks[i];
      filled = i1;
    }
    kvPtr.fill(kvPtr[filled], filled + 1);
    const kvIndices = new Int32Array(nnz);
    const entryRow = new Int32Array(nnz);
    const causalKind = new Uint8Array(nnz);
    for (const [i0, i1, at] of spans) {
      for (let i = i0; i < i1; i++) {
        if (rowBlocks[i] === 0) continue;
        const r = i % R;
        const e0 = kvPtr[i];
        keptColumns(data, words, (at + i - i0) * C, C, kvIndices, e0);
        for (let e = e0; e < kvPtr[i + 1]; e++) {
          const c = kvIndices[e];
          entryRow[e] = i;
          causalKind[e] = c < r ? CausalKind.Full : c === r ? CausalKind.Partial : CausalKind.Empty;
        }
      }
    }
    const slotBlocks = new Int32Array(S);
    for (let s = 0; s < S; s++) slotBlocks[s] = kvPtr[(s + 1) * R] - kvPtr[s * R];
    this.nnz = nnz;
    this.density = S * R * C === 0 ? 0 : nnz / (S * R * C);
    this.kvPtr = kvPtr;
    this.kvIndices = kvIndices;
    this.entryRow = entryRow;
    this.causalKind = causalKind;
    this.rowBlocks = rowBlocks;
    this.maxRowBlocks = maxRow;
    this.slotBlocks = slotBlocks;
    this.maxSlotBlocks = slotBlocks.reduce((m, x) => Math.max(m, x), 0);
  }

  /** The transposed tables from the row tables: entries in row order, so each column's rows ascend. */
  private columns(): ColumnTables {
    if (this.transposed) return this.transposed;
    const { slots: S, rows: R, cols: C, nnz, kvIndices, entryRow } = this;
    const colBlocks = new Int32Array(S * C);
    for (let e = 0; e < nnz; e++) colBlocks[((entryRow[e] / R) | 0) * C + kvIndices[e]]++;
    const qPtr = new Int32Array(S * C + 1);
    for (let j = 0; j < S * C; j++) qPtr[j + 1] = qPtr[j] + colBlocks[j];
    const qIndices = new Int32Array(nnz);
    const qEntries = new Int32Array(nnz);
    const fill = qPtr.slice(0, S * C);
    for (let e = 0; e < nnz; e++) {
      const i = entryRow[e];
      const s = (i / R) | 0;
      const t = fill[s * C + kvIndices[e]]++;
      qIndices[t] = i - s * R;
      qEntries[t] = e;
    }
    return (this.transposed = { colBlocks, qPtr, qIndices, qEntries });
  }

  /** The slot batch row b and query head h read: (b % Bl)·Hl + h % Hl (today h). */
  slotOf(b: number, h: number): number {
    return (b % this.batches) * this.heads + (h % this.heads);
  }

  /**
   * Whether block rows i and j (each slot·R + r) keep the same columns: query heads whose rows
   * agree can share one walk over them (the decode kernel's grouped heads read each K/V block once).
   */
  sameRow(i: number, j: number): boolean {
    if (i === j) return true;
    const n = this.rowBlocks[i];
    if (n !== this.rowBlocks[j]) return false;
    const [a, b] = [this.kvPtr[i], this.kvPtr[j]];
    for (let e = 0; e < n; e++) if (this.kvIndices[a + e] !== this.kvIndices[b + e]) return false;
    return true;
  }

  /** What a call with this `causal` visits: computed at the first ask, then cached. */
  causalTables(causal: boolean): CausalTables {
    return (this.byCausal[+causal] ??= buildCausalTables(this, causal));
  }

  /** Shape, counts and density, then slot `slot` drawn: '█' full, '▒' partial (causal), '·' not visited. */
  toString(slot = 0, causal = false): string {
    const head = `CompiledLayout [${this.batches}, ${this.heads}, ${this.rows}, ${this.cols}] block ${this.block}: ` +
      `nnz ${this.nnz}, density ${(100 * this.density).toFixed(2)}%`;
    if (this.slots * this.rows * this.cols === 0) return head;
    if (!causal) return `${head}\n${layoutToString({ block: this.block, shape: [this.slots, this.rows, this.cols], data: this.layout.data }, slot)}`;
    const ct = this.causalTables(true);
    const lines: string[] = [];
    for (let r = 0; r < this.rows; r++) {
      const chars = new Array<string>(this.cols).fill('·');
      const i = slot * this.rows + r;
      for (let e = this.kvPtr[i]; e < this.kvPtr[i] + ct.rowKept[i]; e++) chars[this.kvIndices[e]] = this.causalKind[e] === CausalKind.Full ? '█' : '▒';
      lines.push(chars.join(''));
    }
    return `${head}; causal keeps ${ct.kept} (${ct.keptFull} full, ${ct.keptPartial} partial)\n${lines.join('\n')}`;
  }
}

/** data as 4-byte words, from its first 4-byte-aligned byte (emptyRow skips zero rows with it). */
function wordView(data: Uint8Array): { words: Uint32Array; head: number } {
  const head = (4 - (data.byteOffset % 4)) % 4;
  if (head >= data.length) return { words: new Uint32Array(0), head: data.length };
  return { words: new Uint32Array(data.buffer, data.byteOffset + head, (data.length - head) >> 2), head };
}

/**
 * The kept columns of the row at bytes base … base + n − 1: written to out[at …] (null: counted
 * only), returning how many. Zero bytes are skipped four at a time: a selected layout over a long
 * cache is mostly empty rows and columns (a decode step's keeps one block row per head, a few
 * dozen of its thousands of blocks), and its compile is part of every step.
 */
function keptColumns(data: Uint8Array, { words, head }: { words: Uint32Array; head: number }, base: number, n: number, out: Int32Array | null, at: number): number {
  const end = base + n;
  const w0 = Math.ceil(Math.max(base - head, 0) / 4);
  const w1 = Math.max(Math.floor((end - head) / 4), w0);
  let k = at;
  const take = (i: number) => {
    if (data[i] !== 0) {
      if (out) out[k] = i - base;
      k++;
    }
  };
  let i = base;
  for (; i < Math.min(head + w0 * 4, end); i++) take(i);
  for (let w = w0; w < w1; w++) {
    if (words[w] === 0) continue;
    const b = head + w * 4;
    take(b);
    take(b + 1);
    take(b + 2);
    take(b + 3);
  }
  for (i = Math.max(head + w1 * 4, i); i < end; i++) take(i);
  return k - at;
}

interface ColumnTables {
  readonly colBlocks: Int32Array;
  readonly qPtr: Int32Array;
  readonly qIndices: Int32Array;
  readonly qEntries: Int32Array;
}

/** [Bl, Hl, R, C] of a layout: today's [H, R, C] layouts have Bl = 1. */
function layoutDims(layout: { readonly shape: readonly number[] }): [number, number, number, number] {
  const shape = layout.shape as readonly number[];
  return shape.length === 4 ? [shape[0], shape[1], shape[2], shape[3]] : [1, shape[0], shape[1], shape[2]];
}

/**
 * Rows to compile: rows i0 … i1 − 1 of each span (ascending, disjoint) are C bytes each in `data`
 * from row `at` on (at = i0 in a dense layout's own bytes); every other row is empty.
 */
export interface RowSource {
  readonly data: Uint8Array;
  readonly spans: ReadonlyArray<readonly [i0: number, i1: number, at: number]>;
}

/** Keyed by layout.data, or by the layout itself for a selection held as its rows. */
const cache = new WeakMap<object, CompiledLayout>();
/** A selection's rows as compileLayout reads them, where they fill `layout`'s rows as they fill theirs. */
function rowsOfSelection(rows: SelectedRows, layout: Layout | BatchedLayout): RowSource | undefined {
  const dims = layoutDims(layout);
  if (rows.block !== layout.block || !sameShape(dims, layoutDims(rows))) return undefined;
  return { data: rows.bytes, spans: rows.runs.map(([t0, t1], i) => [t0, t1, rows.rowAt(i)] as const) };
}

/**
 * Compiles a layout to lookup tables, cached by the identity of `layout.data` (layouts are
 * treated as immutable; DeepSpeed's cache keyed by sequence length hands out stale tables), or of
 * the layout for a selection held as its rows (whose data is then never read).
 */
export function compileLayout(layout: Layout | BatchedLayout): CompiledLayout {
  const held = selectedRows(layout);
  const key: object = held ? layout : layout.data;
  const hit = cache.get(key);
  if (hit && hit.block === layout.block && sameShape(hit.layout.shape, layout.shape)) return hit;
  let source: RowSource | undefined;
  if (held) source = rowsOfSelection(held, layout);
  else {
    const behind = rowsBehind(layout.data); // bytes built from a selection's rows compile from the rows
    source = behind ? rowsOfSelection(behind, layout) : undefined;
  }
  const compiled = new CompiledLayout(layout, source);
  cache.set(key, compiled);
  return compiled;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
