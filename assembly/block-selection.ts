// Content-based block selection, one block row at a time (src/backend.ts SelectBlocksProblem): the
// row's pooled or bound scores (block-scores.ts), then its topK or threshold cut by a heap over the allowed
// columns, in the order "higher score first, ties to the lower column" (a total order, so the cut
// does not depend on the heap's path), then the kept blocks. Item t = (b, h, r) over B·Hq·R writes
// the C bytes of its layout row, 1 where kept; a call runs a list of items (the rows holding a query).
import { blockRowBounds, blockRowScores } from './block-scores';
import { expNeg4 } from './simd';

// @ts-ignore: decorator
@inline function score(s: usize, c: i32): f32 {
  return load<f32>(s + (<usize>c << 2));
}

/** Whether column a comes before column b: the higher score, or the same score and the lower column. */
// @ts-ignore: decorator
@inline function before(s: usize, a: i32, b: i32): bool {
  const sa = score(s, a);
  const sb = score(s, b);
  return sa > sb || (sa == sb && a < b);
}

// @ts-ignore: decorator
@inline function at(heap: usize, i: i32): i32 {
  return load<i32>(heap + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function put(heap: usize, i: i32, c: i32): void {
  store<i32>(heap + (<usize>i << 2), c);
}

/**
 * Restores the heap below slot i of `heap` (n column indices): `firstOnTop` keeps the first column
 * (in `before`'s order) at the root, else the last.
 */
function siftDown(s: usize, heap: usize, n: i32, i: i32, firstOnTop: bool): void {
  const c = at(heap, i);
  while (true) {
    let child = 2 * i + 1;
    if (child >= n) break;
    const right = child + 1;
    if (right < n && before(s, at(heap, right), at(heap, child)) == firstOnTop) child = right;
    if (before(s, at(heap, child), c) != firstOnTop) break;
    put(heap, i, at(heap, child));
    i = child;
  }
  put(heap, i, c);
}

function heapify(s: usize, heap: usize, n: i32, firstOnTop: bool): void {
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(s, heap, n, i, firstOnTop);
}

/** Marks the topK first of columns 0 … n − 1: a heap of the topK best seen, its worst on top. */
function markTopK(s: usize, heap: usize, n: i32, topK: i32, row: usize): void {
  if (topK >= n) {
    memory.fill(row, 1, <usize>n);
    return;
  }
  for (let c = 0; c < topK; c++) put(heap, c, c);
  heapify(s, heap, topK, false);
  for (let c = topK; c < n; c++) {
    if (!before(s, c, at(heap, 0))) continue;
    put(heap, 0, c);
    siftDown(s, heap, topK, 0, false);
  }
  for (let i = 0; i < topK; i++) store<u8>(row + <usize>at(heap, i), 1);
}

/**
 * Marks the fewest first columns whose e^(s − max) sum reaches threshold · Z, Z the sum over all
 * n (in column order); popped from a heap of all n, the first on top. `e`: n floats of scratch.
 */
function markThreshold(s: usize, heap: usize, e: usize, n: i32, threshold: f32, row: usize): void {
  if (threshold >= 1) {
    memory.fill(row, 1, <usize>n);
    return;
  }
  let best = 0;
  for (let c = 1; c < n; c++) if (before(s, c, best)) best = c;
  const mx = f32x4.splat(score(s, best));
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(e + o, expNeg4(f32x4.sub(v128.load(s + o), mx)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(e + o, f32x4.extract_lane(expNeg4(f32x4.sub(f32x4.splat(load<f32>(s + o)), mx)), 0));
  }
  let z: f32 = 0;
  for (c = 0; c < n; c++) z += load<f32>(e + (<usize>c << 2));
  const goal = threshold * z;
  for (c = 0; c < n; c++) put(heap, c, c);
  heapify(s, heap, n, true);
  let sum: f32 = 0;
  let left = n;
  while (left > 0 && sum < goal) {
    const top = at(heap, 0);
    store<u8>(row + <usize>top, 1);
    sum += load<f32>(e + (<usize>top << 2));
    left--;
    put(heap, 0, at(heap, left));
    siftDown(s, heap, left, 0, true);
  }
}

/**
 * qp [B, Hq, R, D] pooled (block-pooling.ts); the key blocks [B, Hkv, kBlocks, D] (kBlocks ≥ C):
 * their means at kp (`bound` false: the pooled score) or their min and max at kLo, kHi (`bound`:
 * Quest's upper bound); qOffset, keyLengths Int32 [B]; items: Int32 item indices t, of which this
 * task runs positions itemBegin … itemEnd − 1; out: C bytes per position, the row of the item there
 * (rows of [B, Hq, R, C] in the list's order). Exactly one of
 * topK (≥ 1) and threshold (in (0, 1]) is set, the other 0. scratch: 12·C bytes (scores,
 * exponentials, heap).
 */
export function selectBlockRows(
  qp: usize, kp: usize, kLo: usize, kHi: usize, out: usize, items: usize, qOffset: usize, keyLengths: usize,
  Hq: i32, Hkv: i32, Nq: i32, R: i32, C: i32, kBlocks: i32, D: i32, block: i32, causal: bool, bound: bool, scale: f32,
  topK: i32, threshold: f32, keepDiagonal: bool, keepFirst: i32, keepLocal: i32,
  itemBegin: i32, itemEnd: i32, scratch: usize,
): void {
  for (let j = itemBegin; j < itemEnd; j++) {
    const t = load<i32>(items + (<usize>j << 2));
    selectRow(
      qp + <usize>t * (<usize>D << 2), kp, kLo, kHi, out + <usize>j * <usize>C, t, qOffset, keyLengths,
      Hq, Hkv, Nq, R, C, kBlocks, D, block, causal, bound, scale, topK, threshold, keepDiagonal, keepFirst, keepLocal, scratch,
    );
  }
}

/**
 * One item of selectBlockRows: block row t = (b, h, r)'s C bytes at `row`, from its pooled query
 * block at `qpRow` (D floats); scratch: 12·C bytes. decode-selected.ts selects the same rows.
 */
export function selectRow(
  qpRow: usize, kp: usize, kLo: usize, kHi: usize, row: usize, t: i32, qOffset: usize, keyLengths: usize,
  Hq: i32, Hkv: i32, Nq: i32, R: i32, C: i32, kBlocks: i32, D: i32, block: i32, causal: bool, bound: bool, scale: f32,
  topK: i32, threshold: f32, keepDiagonal: bool, keepFirst: i32, keepLocal: i32, scratch: usize,
): void {
  const s = scratch;
  const e = s + (<usize>C << 2);
  const heap = e + (<usize>C << 2);
  const group = Hq / Hkv;
  const rowBytes = <usize>D << 2;
  const bh = t / R;
  const r = t - bh * R;
  const b = bh / Hq;
  const h = bh - b * Hq;
  memory.fill(row, 0, <usize>C);
  const off = load<i32>(qOffset + (<usize>b << 2));
  if ((r + 1) * block <= off || r * block >= off + Nq) return; // no query in this block row
  // allowed columns: 0 … n − 1
  const kl = load<i32>(keyLengths + (<usize>b << 2));
  let n = min((kl + block - 1) / block, C);
  if (causal) n = min(n, r + 1);
  const kHead = <usize>(b * Hkv + h / group) * <usize>kBlocks * rowBytes;
  if (bound) blockRowBounds(qpRow, kLo + kHead, kHi + kHead, n, D, scale, s);
  else blockRowScores(qpRow, kp + kHead, n, D, scale, s);
  if (topK > 0) markTopK(s, heap, n, topK, row);
  else markThreshold(s, heap, e, n, threshold, row);
  if (keepDiagonal && r < n) store<u8>(row + <usize>r, 1);
  const first = min(keepFirst, n);
  if (first > 0) memory.fill(row, 1, <usize>first);
  for (let c = max(r - keepLocal, 0); c < min(r, n); c++) store<u8>(row + <usize>c, 1);
}
