// Attention forward for a few query rows (decode), flash-decoding style: one (batch·head, block
// row) has too little work for one task, so the host (src/cpu/decode.ts) splits each row's kept
// column blocks into chunks, one work item each; a chunk's partial result (unnormalised output,
// running max and sum, base 2) goes to its own slot, and a second pass merges a row's partials in
// chunk order. Each partial is computed the way attention-forward.ts computes a whole row, over a
// score tile only as wide as the queries (rounded up to 4), so nothing depends on the tasks.
import { blockMM, fillF32, packTransposed, INIT_SCALE } from './tiles';
import { applyMasks, onlineSoftmaxForward, scoreFew, scoreTile, LOG2E } from './attention-scores';
import { EMPTY, PARTIAL, itemRow0, itemRowEnd, tileKind } from './causal-kind';
import { exp2x4 } from './simd';
import { writeRows } from './attention-rows';

/** Ints per work item: bh, block row r, entries e0 … e1 − 1, partial slot (−1: write out directly). */
// @ts-ignore: decorator
@inline const ITEM_INTS: i32 = 5;
/** Ints per merge item: bh, block row r, first partial slot, partial count. */
// @ts-ignore: decorator
@inline const MERGE_INTS: i32 = 4;

/** Query columns of a tile: the most query rows one block row holds, rounded up to 4. */
// @ts-ignore: decorator
@inline function queryPad(N: i32, block: i32): i32 {
  return (min(N, block) + 3) & ~3;
}

/**
 * Work items itemBegin..itemEnd-1 of `items` ([count][5] i32: bh, block row r, layout entries
 * e0 … e1 − 1 of that row, slot). Item (bh, r) covers the query rows of batch row b = bh / H in
 * block row r (attention-forward.ts: qOffset, partial blocks, causal measured per tile) against the
 * column blocks kvIndices[e0 … e1 − 1]. Slot s ≥ 0: the item's o [qpad][D], m [qpad], l [qpad]
 * (qpad = min(N, block) rounded up to 4; m the running max of base-2 scores, o and l not divided)
 * go to partials + s·(qpad·D + 2·qpad) floats, for attentionDecodeMerge; s = −1: the item is its
 * row's only chunk and writes out (and lse) itself.
 * Fewer than 4 query rows keep their queries as rows in qt ([rows][D], scoreFew's operand).
 * Pointers are byte offsets laid out as attentionForward's: q, out [B·H][N][D], k, v
 * [B·Hkv][kvStride][D], lse [B·H][N] or 0, qOffset [B] i32, rpe, kpm, am additive or 0.
 * `scratch`: this task's own 2·D·qpad + block·qpad + 3·qpad floats (twin: decodeScratchFloats in
 * src/cpu/decode.ts).
 */
export function attentionDecode(
  q: usize, k: usize, v: usize, out: usize, lse: usize,
  rpe: usize, kpm: usize, am: usize,
  kvIndices: usize, qOffset: usize, items: usize, partials: usize,
  H: i32, Hkv: i32, N: i32, Nk: i32, kvStride: i32, D: i32, block: i32, causal: i32, scale: f32,
  itemBegin: i32, itemEnd: i32, scratch: usize,
): void {
  const slotBytes = decodeSlotBytes(N, D, block);
  for (let t = itemBegin; t < itemEnd; t++) {
    const rec = items + (<usize>(t * ITEM_INTS) << 2);
    const slot = load<i32>(rec, 16);
    decodeItem(
      q, k, v, out, lse, rpe, kpm, am, kvIndices, qOffset, H, Hkv, N, Nk, kvStride, D, block, causal, scale,
      load<i32>(rec), load<i32>(rec, 4), load<i32>(rec, 8), load<i32>(rec, 12), slot >= 0 ? partials + <usize>slot * slotBytes : 0, slot < 0, scratch,
    );
  }
}

/**
 * One work item: the query rows of batch·head bh in block row r against the column blocks
 * kvIndices[e0 … e1 − 1], as attentionDecode describes it: into its partial slot (o, m, l at
 * `slot`), or, `writesOut`, straight to out (and lse). decode-selected.ts runs the same items.
 */
export function decodeItem(
  q: usize, k: usize, v: usize, out: usize, lse: usize,
  rpe: usize, kpm: usize, am: usize, kvIndices: usize, qOffset: usize,
  H: i32, Hkv: i32, N: i32, Nk: i32, kvStride: i32, D: i32, block: i32, causal: i32, scale: f32,
  bh: i32, r: i32, e0: i32, e1: i32, slot: usize, writesOut: bool, scratch: usize,
): void {
  const group = H / Hkv;
  const qpad = queryPad(N, block);
  const dBytes = <usize>D << 2;
  const pBytes = <usize>qpad << 2;
  const qt = scratch; // [D][qpad], queries transposed (or [rows][D] for fewer than 4), times scale·log2(e)
  const s = qt + <usize>D * pBytes; // [block][qpad] scores, then probabilities
  const alpha = s + <usize>block * pBytes; // [qpad] rescale of this step
  const own = alpha + pBytes; // o, m, l of an item that writes out itself
  const masked = rpe != 0 || kpm != 0 || am != 0;
  const h = bh % H;
  const b = bh / H;
  const off = load<i32>(qOffset + (<usize>b << 2));
  const row0 = itemRow0(r, block, off);
  const rows = itemRowEnd(r, block, off, N) - row0;
  if (rows <= 0) return; // the host lists only block rows that hold queries
  const p0 = off + row0;
  const rows4 = (rows + 3) & ~3;
  const headRows = <usize>bh * <usize>N;
  const kvRows = <usize>(b * Hkv + h / group) * <usize>kvStride;
  const o = writesOut ? own : slot;
  const m = o + <usize>qpad * dBytes;
  const l = m + pBytes;
  // fewer than 4 queries (a decode step's one row): scored as rows against K's rows (scoreFew)
  const few = rows < 4;
  if (few) scaleRows(q + (headRows + <usize>row0) * dBytes, rows * D, qt, scale * LOG2E);
  else packTransposed(q + (headRows + <usize>row0) * dBytes, D, rows, qpad, qt, scale * LOG2E);
  fillF32(o, qpad * D, 0);
  fillF32(m, qpad, -Infinity);
  fillF32(l, qpad, 0);
  for (let e = e0; e < e1; e++) {
    const col0 = load<i32>(kvIndices + (<usize>e << 2)) * block;
    const cols = min(block, Nk - col0);
    const kind = tileKind(causal != 0, p0, rows, col0, cols);
    if (kind == EMPTY || cols <= 0) continue;
    const kb = k + (kvRows + <usize>col0) * dBytes;
    const vb = v + (kvRows + <usize>col0) * dBytes;
    if (few) scoreFew(kb, qt, s, D, cols, rows, qpad);
    else scoreTile(kb, qt, s, D, cols, rows, qpad);
    if (masked || kind == PARTIAL) {
      applyMasks(
        s, qpad, rows, cols, Nk,
        rpe, kpm, am, headRows, b, row0, col0, kind == PARTIAL, p0 - col0,
      );
    }
    onlineSoftmaxForward(s, rows4, cols, pBytes, m, l, alpha);
    // o[i][·] = alpha[i]·o[i][·] + Σ_j P[j][i]·V[j][·], for the real query rows only
    blockMM(s, 4, pBytes, vb, dBytes, cols, o, dBytes, rows, D, INIT_SCALE, alpha);
  }
  if (writesOut) {
    writeRows(o, m, l, rows, D, out + (headRows + <usize>row0) * dBytes, lse != 0 ? lse + ((headRows + <usize>row0) << 2) : 0);
  }
}

/**
 * Merge items mergeBegin..mergeEnd-1 of `merges` ([count][4] i32: bh, block row r, first slot,
 * slot count): the partials of slots first … first + count − 1 (attentionDecode's, in chunk
 * order) combine as M = max m_c, L = Σ_c 2^(m_c − M)·l_c, O = Σ_c 2^(m_c − M)·o_c, summed in slot
 * order into the first slot, which then gives out = O / L and lse = ln2·M + ln L.
 */
export function attentionDecodeMerge(
  out: usize, lse: usize, qOffset: usize, merges: usize, partials: usize,
  H: i32, N: i32, D: i32, block: i32, mergeBegin: i32, mergeEnd: i32,
): void {
  const slotBytes = decodeSlotBytes(N, D, block);
  for (let t = mergeBegin; t < mergeEnd; t++) {
    const rec = merges + (<usize>(t * MERGE_INTS) << 2);
    mergeRow(out, lse, qOffset, H, N, D, block, load<i32>(rec), load<i32>(rec, 4), partials + <usize>load<i32>(rec, 8) * slotBytes, load<i32>(rec, 12));
  }
}

/** Bytes of a task's decodeItem scratch (twin: decodeScratchFloats in src/cpu/decode.ts). */
export function decodeScratchBytes(N: i32, D: i32, block: i32): usize {
  const qpad = queryPad(N, block);
  return (2 * <usize>D * <usize>qpad + <usize>block * <usize>qpad + 3 * <usize>qpad) << 2;
}

/** Bytes of one partial slot: o [qpad][D], m [qpad], l [qpad] (twin: slotFloats in src/cpu/decode.ts). */
export function decodeSlotBytes(N: i32, D: i32, block: i32): usize {
  const qpad = queryPad(N, block);
  return (<usize>qpad * <usize>D + 2 * <usize>qpad) << 2;
}

/** One merge item: the `count` partials of (bh, block row r) from slot `base` on, as attentionDecodeMerge describes it. */
export function mergeRow(out: usize, lse: usize, qOffset: usize, H: i32, N: i32, D: i32, block: i32, bh: i32, r: i32, base: usize, count: i32): void {
  const qpad = queryPad(N, block);
  const dBytes = <usize>D << 2;
  const slotBytes = decodeSlotBytes(N, D, block);
  const mOffset = <usize>qpad * dBytes;
  const lOffset = mOffset + (<usize>qpad << 2);
  const b = bh / H;
  const off = load<i32>(qOffset + (<usize>b << 2));
  const row0 = itemRow0(r, block, off);
  const rows = itemRowEnd(r, block, off, N) - row0;
  if (rows <= 0) return;
  for (let i = 0; i < rows; i++) {
    const mi = <usize>i << 2;
    let M: f32 = -Infinity;
    for (let c = 0; c < count; c++) M = max(M, load<f32>(base + <usize>c * slotBytes + mOffset + mi));
    const mUse: f32 = M == -Infinity ? 0 : M; // −∞ − −∞ would be NaN: every partial is empty
    let L: f32 = 0;
    const o0 = base + <usize>i * dBytes;
    for (let c = 0; c < count; c++) {
      const slot = base + <usize>c * slotBytes;
      const w = f32x4.extract_lane(exp2x4(f32x4.splat(load<f32>(slot + mOffset + mi) - mUse)), 0);
      L += w * load<f32>(slot + lOffset + mi);
      const oc = slot + <usize>i * dBytes;
      const wv = f32x4.splat(w);
      let d = 0;
      if (c == 0) {
        for (; d + 4 <= D; d += 4) v128.store(o0 + (<usize>d << 2), f32x4.mul(v128.load(o0 + (<usize>d << 2)), wv));
        for (; d < D; d++) store<f32>(o0 + (<usize>d << 2), load<f32>(o0 + (<usize>d << 2)) * w);
      } else {
        for (; d + 4 <= D; d += 4) {
          v128.store(o0 + (<usize>d << 2), f32x4.add(v128.load(o0 + (<usize>d << 2)), f32x4.mul(v128.load(oc + (<usize>d << 2)), wv)));
        }
        for (; d < D; d++) store<f32>(o0 + (<usize>d << 2), load<f32>(o0 + (<usize>d << 2)) + load<f32>(oc + (<usize>d << 2)) * w);
      }
    }
    store<f32>(base + mOffset + mi, M);
    store<f32>(base + lOffset + mi, L);
  }
  writeRows(base, base + mOffset, base + lOffset, rows, D, out + (<usize>bh * <usize>N + <usize>row0) * dBytes, lse != 0 ? lse + ((<usize>bh * <usize>N + <usize>row0) << 2) : 0);
}

/** dst[i] = src[i]·mul for i < n. */
function scaleRows(src: usize, n: i32, dst: usize, mul: f32): void {
  const m = f32x4.splat(mul);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(src + (<usize>i << 2)), m));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)) * mul);
}
