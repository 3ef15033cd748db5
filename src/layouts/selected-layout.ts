// A selection held as its active block rows (engine.selectBlocks on the CPU). A decode step selects
// one block row per head of a layout of B·H·R·C bytes; building those bytes (an allocation of the
// layout's size per step, and the collections it causes) would be most of the step. The Layout
// handed out is a plain object whose `data` is an accessor: the dense bytes are built from the rows
// at the first read and kept, so a user who reads them sees a plain Layout. The library's own path
// (checkLayout, fitLayout, compileLayout, the attention parts) takes the rows (selectedRows) and
// never reads `data`. Layouts are treated as immutable, as compileLayout's cache does; assigning
// `data` makes the layout a plain one of those bytes.
import type { BatchedLayout } from '../types.js';

type Shape = readonly [B: number, H: number, R: number, C: number];

export class SelectedRows {
  /** Per run, the index of its first row in `bytes` (in rows of C bytes). */
  private readonly starts: Int32Array;

  constructor(
    readonly block: number,
    readonly shape: Shape,
    /**
     * Ascending, disjoint runs [t0, t1) of block rows t = (b·H + h)·R + r, each row C bytes; every
     * row outside them is empty.
     */
    readonly runs: ReadonlyArray<readonly [number, number]>,
    /** The runs' rows one after another. */
    readonly bytes: Uint8Array,
  ) {
    this.starts = new Int32Array(runs.length);
    let at = 0;
    let end = 0;
    runs.forEach(([t0, t1], i) => {
      // compileLayout fills the offsets between runs as it goes
      if (!(t0 >= end && t1 >= t0)) throw new RangeError(`SelectedRows: run ${i} [${t0}, ${t1}) is not ascending and disjoint`);
      end = t1;
      this.starts[i] = at;
      at += t1 - t0;
    });
    if (at * shape[3] !== bytes.length) throw new RangeError(`SelectedRows: ${at} rows of ${shape[3]} bytes, got ${bytes.length}`);
  }

  /** Row indices t0 … t1 − 1 of run i start at row `rowAt(i)` of `bytes`. */
  rowAt(i: number): number {
    return this.starts[i];
  }

  /** The dense bytes [B·H·R·C]: `bytes` itself where the runs cover every row. */
  toDense(): Uint8Array {
    const [B, H, R, C] = this.shape;
    const rows = B * H * R;
    if (this.runs.length === 1 && this.runs[0][0] === 0 && this.runs[0][1] === rows) return this.bytes;
    const dense = new Uint8Array(rows * C);
    this.runs.forEach(([t0, t1], i) => dense.set(this.bytes.subarray(this.starts[i] * C, (this.starts[i] + t1 - t0) * C), t0 * C));
    return dense;
  }

  /**
   * Read as [B, H, R, C] (fitLayout's rule): layout head h % Hl for head h, the first R rows and C
   * columns of each.
   */
  fit(H: number, R: number, C: number): SelectedRows {
    const [B, Hl, Rl] = this.shape;
    const runs: Array<[number, number]> = [];
    const pieces: Array<[from: number, rows: number]> = [];
    let total = 0;
    for (let bh = 0; bh < B * H; bh++) {
      const src = (Math.floor(bh / H) * Hl + (bh % H) % Hl) * Rl;
      for (const [s0, s1, from] of this.meeting(src, src + R)) {
        const t0 = bh * R + s0 - src;
        const t1 = t0 + s1 - s0;
        const last = runs[runs.length - 1];
        if (last && last[1] === t0) last[1] = t1;
        else runs.push([t0, t1]);
        pieces.push([from, s1 - s0]);
        total += s1 - s0;
      }
    }
    return new SelectedRows(this.block, [B, H, R, C], runs, this.gather(pieces, total, C));
  }

  /** Rows t0 … t1 − 1 as a layout of their own of shape `shape` (whole heads: the attention parts). */
  slice(t0: number, t1: number, shape: Shape): SelectedRows {
    const C = this.shape[3];
    const runs: Array<[number, number]> = [];
    const pieces: Array<[from: number, rows: number]> = [];
    let total = 0;
    for (const [s0, s1, from] of this.meeting(t0, t1)) {
      runs.push([s0 - t0, s1 - t0]);
      pieces.push([from, s1 - s0]);
      total += s1 - s0;
    }
    return new SelectedRows(this.block, shape, runs, this.gather(pieces, total, C));
  }

  /** `total` rows of `bytes`, `pieces` of consecutive rows one after another, each row cut to its first C bytes. */
  private gather(pieces: ReadonlyArray<readonly [from: number, rows: number]>, total: number, C: number): Uint8Array {
    const Cl = this.shape[3];
    const bytes = new Uint8Array(total * C);
    let at = 0;
    for (const [from, n] of pieces) {
      if (C === Cl) bytes.set(this.bytes.subarray(from * Cl, (from + n) * Cl), at * C);
      else for (let i = 0; i < n; i++) bytes.set(this.bytes.subarray((from + i) * Cl, (from + i) * Cl + C), (at + i) * C);
      at += n;
    }
    return bytes;
  }

  /** The parts of the runs within rows [t0, t1): [s0, s1) and the row of s0 in `bytes`, ascending. */
  private meeting(t0: number, t1: number): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    // the first run ending past t0
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[mid][1] <= t0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.runs.length && this.runs[i][0] < t1; i++) {
      const [r0, r1] = this.runs[i];
      const s0 = Math.max(r0, t0);
      const s1 = Math.min(r1, t1);
      if (s1 > s0) out.push([s0, s1, this.starts[i] + s0 - r0]);
    }
    return out;
  }
}

const rowsOf = new WeakMap<object, SelectedRows>();
const rowsOfDense = new WeakMap<Uint8Array, SelectedRows>();

/** A Layout of these rows whose `data` is built at its first read (see the file's head). */
export function selectedLayout(rows: SelectedRows): BatchedLayout {
  const layout = { block: rows.block, shape: [...rows.shape] } as BatchedLayout;
  let dense: Uint8Array | null = null;
  Object.defineProperty(layout, 'data', {
    enumerable: true,
    configurable: true,
    get(): Uint8Array {
      if (!dense) {
        dense = rows.toDense();
        rowsOfDense.set(dense, rows);
      }
      return dense;
    },
    set(data: Uint8Array) {
      dense = data;
      rowsOf.delete(layout);
    },
  });
  rowsOf.set(layout, rows);
  return layout;
}

/**
 * The rows behind a layout made by selectedLayout, while its block and shape are still theirs (else
 * undefined: the layout is read as its bytes). Never reads `data`.
 */
export function selectedRows(layout: object): SelectedRows | undefined {
  const rows = rowsOf.get(layout);
  if (!rows) return undefined;
  const { block, shape } = layout as { block?: unknown; shape?: unknown };
  return block === rows.block && Array.isArray(shape) && shape.length === 4 && shape.every((d, i) => d === rows.shape[i]) ? rows : undefined;
}

/** The rows a selected layout's dense bytes were built from (its `data`, read), for compileLayout. */
export function rowsBehind(data: Uint8Array): SelectedRows | undefined {
  return rowsOfDense.get(data);
}

/**
 * Per batch row, the block rows [r0, r1) of a selection that hold one of its queries (rows
 * qOffset[b] … qOffset[b] + Nq − 1); its other rows are empty (a decode step's: one block row a head).
 */
export function queryBlockRows(p: { readonly qOffset: Int32Array; readonly Nq: number; readonly block: number; readonly R: number }): Array<[number, number]> {
  return Array.from(p.qOffset, (o) => [Math.floor(o / p.block), Math.min(Math.ceil((o + p.Nq) / p.block), p.R)]);
}

/**
 * The same rows as SelectedRows' runs of rows t = (b·H + h)·R + r, every head of batch row b
 * holding `rows[b]`; adjacent runs joined.
 */
export function queryRuns(rows: ReadonlyArray<readonly [number, number]>, H: number, R: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let bh = 0; bh < rows.length * H; bh++) {
    const [r0, r1] = rows[Math.floor(bh / H)]!;
    if (r1 <= r0) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === bh * R + r0) last[1] = bh * R + r1;
    else runs.push([bh * R + r0, bh * R + r1]);
  }
  return runs;
}

/** The rows t of `runs`, in order (the list the CPU selection kernels run, one row per position). */
export function rowsOfRuns(runs: ReadonlyArray<readonly [number, number]>): Int32Array {
  const rows = new Int32Array(runs.reduce((n, [t0, t1]) => n + t1 - t0, 0));
  let at = 0;
  for (const [t0, t1] of runs) for (let t = t0; t < t1; t++) rows[at++] = t;
  return rows;
}
