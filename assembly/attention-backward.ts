// Fused block-sparse attention backward: five block matmuls per kept block, no atomics.
//
// Nothing is saved by the forward (the API's attentionBackward takes q, k, v, dout only), so a
// row item recomputes what it needs and keeps what the column items need:
//  - row item (batch·head, block row r): S = QKᵀ and dP = dO·Vᵀ for each kept block (2 matmuls),
//    the online max and sum of S and the online Σ p·dP (= rowsum(dO∘O), the softmax-backward
//    term D, without computing O); then, with the row's final max and sum, P and
//    dS = P∘(dP − D)·scale in place for every block, and dQ = Σ dS·K (1 matmul). P and dS stay
//    in per-block slots ([block][padded], transposed like every score tile here);
//  - column item (batch·head, block column c), over the transposed tables: dV = Σ Pᵀ·dO and
//    dK = Σ dSᵀ·Q (2 matmuls) from the slots.
// Five matmuls as FlashAttention-2's backward against the forward's two, and the forward is not
// re-run; keeping P and dS costs 2·block·padded floats per kept block.
//
// Two schedules of the same items (each output is computed by one item, in one fixed order, so
// both give the same bits):
//  - attentionBackwardHeads: a task owns whole batch·heads and interleaves the two kinds, each
//    column as soon as its last row is done, so its slots are read back from L2, not L3/DRAM;
//  - attentionBackwardRows, then attentionBackwardColumns: two passes over (batch·head, row) and
//    (batch·head, column) items, for when there are too few batch·heads to share among tasks.
// GQA / MQA (Hkv < H): rows are by query head, reading its kv head's K and V; a column item is
// by kv head and sums dK, dV over the group's query heads in order, from their slots, so a task
// owns whole groups and nothing races. A group whose slots do not fit at once runs the two passes
// over chunks of its query heads, each chunk's column items adding to the previous chunks' sums.
// Host side: src/cpu/attention.ts.
import { exp2x4 } from './simd';
import { blockMM, fillF32, packTransposed, INIT_LOAD, INIT_ZERO } from './tiles';
import { applyMasks, negInfAsZero4, onlineSoftmaxBackward, scoreTile, LOG2E } from './attention-scores';
import { EMPTY, PARTIAL, itemRow0, itemRowEnd, tileKind } from './causal-kind';

/** A batch row's layout slot for head h (src/layouts/compile.ts slotOf). */
// @ts-ignore: decorator
@inline function slotOf(b: i32, h: i32, Bl: i32, Hl: i32): i32 {
  return (b % Bl) * Hl + h % Hl;
}

/**
 * One row item (bh, r): the query rows of batch row b = bh / H at positions in block row r (see
 * attentionForward; none, some or `block` of them). `pHead`/`dsHead`: the P and dS slots of the
 * head's first entry (kvPtr[slot·R]); entry e lives at pHead + (e − kvPtr[slot·R])·slotBytes.
 */
function rowItem(
  q: usize, k: usize, v: usize, dout: usize, dq: usize,
  rpe: usize, kpm: usize, am: usize,
  kvPtr: usize, kvIndices: usize, qOffset: usize, Bl: i32, Hl: i32,
  pHead: usize, dsHead: usize,
  bh: i32, r: i32, H: i32, Hkv: i32, N: i32, Nk: i32, D: i32, block: i32, R: i32, causal: i32, scale: f32, scratch: usize,
): void {
  const h = bh % H;
  const b = bh / H;
  const off = load<i32>(qOffset + (<usize>b << 2));
  const row0 = itemRow0(r, block, off);
  const rows = itemRowEnd(r, block, off, N) - row0;
  if (rows <= 0) return; // no query of this batch row sits in block row r
  const p0 = off + row0;
  const padded = (block + 7) & ~7;
  const rows4 = (rows + 3) & ~3;
  const dBytes = <usize>D << 2;
  const pBytes = <usize>padded << 2;
  const slotBytes = <usize>block * pBytes;
  const qt = scratch; // [D][padded] queries transposed, times scale·log2(e)
  const dot = qt + <usize>D * pBytes; // [D][padded] dout transposed
  const acc = dot + <usize>D * pBytes; // [padded][D] dQ rows
  const m = acc + <usize>padded * dBytes; // [padded] running max (base 2)
  const l = m + pBytes; // [padded] running sum of p, then 1/l
  const dsum = l + pBytes; // [padded] running sum of p·dP, then D
  const mFinal = dsum + pBytes; // [padded]
  const mSeen = mFinal + pBytes; // [C][padded]: the max each block's p was taken against
  const masked = rpe != 0 || kpm != 0 || am != 0;
  const zero = f32x4.splat(0);
  const scaleV = f32x4.splat(scale);
  const slot = slotOf(b, h, Bl, Hl);
  const headRows = <usize>bh * <usize>N; // q, dout, dq, rpe
  const kvRows = <usize>(b * Hkv + h / (H / Hkv)) * <usize>Nk; // k, v: the kv head of h
  const rowBase = (headRows + <usize>row0) * dBytes;
  const headFirst = load<i32>(kvPtr + (<usize>(slot * R) << 2));
  const e0 = load<i32>(kvPtr + (<usize>(slot * R + r) << 2));
  const e1 = load<i32>(kvPtr + (<usize>(slot * R + r + 1) << 2));
  packTransposed(q + rowBase, D, rows, padded, qt, scale * LOG2E);
  packTransposed(dout + rowBase, D, rows, padded, dot, 1);
  fillF32(m, padded, -Infinity);
  fillF32(l, padded, 0);
  fillF32(dsum, padded, 0);
  // 1. scores, dP, online max / sum / Σ p·dP
  let n = 0;
  for (let e = e0; e < e1; e++) {
    const col0 = load<i32>(kvIndices + (<usize>e << 2)) * block;
    const cols = min(block, Nk - col0);
    const kind = tileKind(causal != 0, p0, rows, col0, cols);
    if (kind == EMPTY || cols <= 0) continue; // entirely after the queries' positions
    const s = pHead + <usize>(e - headFirst) * slotBytes;
    const dp = dsHead + <usize>(e - headFirst) * slotBytes;
    scoreTile(k + (kvRows + <usize>col0) * dBytes, qt, s, D, cols, rows, padded);
    if (masked || kind == PARTIAL) {
      applyMasks(
        s, padded, rows, cols, Nk,
        rpe, kpm, am, headRows, b, row0, col0, kind == PARTIAL, p0 - col0,
      );
    }
    // dP[j][i] = Σ_d V[j][d]·dO[i][d]
    scoreTile(v + (kvRows + <usize>col0) * dBytes, dot, dp, D, cols, rows, padded);
    const seen = mSeen + <usize>n * pBytes;
    onlineSoftmaxBackward(s, rows4, cols, pBytes, m, l, dp, dsum, seen);
    n++;
  }
  // 2. normalise: P = p·2^(seen − max)/l, D = Σ p·dP / l, dS = P·(dP − D)·scale, in the slots
  for (let i = 0; i < rows4; i += 4) {
    const pi = <usize>i << 2;
    const mf = v128.load(m + pi);
    const li = v128.load(l + pi);
    const inv = v128.and(f32x4.div(f32x4.splat(1), li), f32x4.gt(li, zero)); // 0 where l = 0
    v128.store(mFinal + pi, negInfAsZero4(mf));
    v128.store(l + pi, inv);
    v128.store(dsum + pi, f32x4.mul(v128.load(dsum + pi), inv));
  }
  n = 0;
  for (let e = e0; e < e1; e++) {
    const col0 = load<i32>(kvIndices + (<usize>e << 2)) * block;
    const cols = min(block, Nk - col0);
    if (tileKind(causal != 0, p0, rows, col0, cols) == EMPTY || cols <= 0) continue;
    const s = pHead + <usize>(e - headFirst) * slotBytes;
    const dp = dsHead + <usize>(e - headFirst) * slotBytes;
    const seen = mSeen + <usize>n * pBytes;
    for (let i = 0; i < rows4; i += 4) {
      const pi = <usize>i << 2;
      // seen ≤ final except where nothing was kept yet when this block was seen (p = 0 there):
      // the min keeps 2^(·) finite
      const f = f32x4.mul(
        exp2x4(f32x4.pmin(f32x4.sub(v128.load(seen + pi), v128.load(mFinal + pi)), zero)),
        v128.load(l + pi),
      );
      const dd = v128.load(dsum + pi);
      let ps = s + pi;
      let pd = dp + pi;
      for (let j = 0; j < cols; j++) {
        const p = f32x4.mul(v128.load(ps), f);
        v128.store(ps, p);
        v128.store(pd, f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(pd), dd)), scaleV));
        ps += pBytes;
        pd += pBytes;
      }
    }
    n++;
  }
  // 3. dQ[i][·] = Σ_blocks Σ_j dS[j][i]·K[j][·]
  let first = true;
  for (let e = e0; e < e1; e++) {
    const col0 = load<i32>(kvIndices + (<usize>e << 2)) * block;
    const cols = min(block, Nk - col0);
    if (tileKind(causal != 0, p0, rows, col0, cols) == EMPTY || cols <= 0) continue;
    const ds = dsHead + <usize>(e - headFirst) * slotBytes;
    blockMM(ds, 4, pBytes, k + (kvRows + <usize>col0) * dBytes, dBytes, cols, acc, dBytes, rows4, D, first ? INIT_ZERO : INIT_LOAD, 0);
    first = false;
  }
  const dst = dq + rowBase;
  if (first) {
    fillF32(dst, rows * D, 0);
  } else {
    memory.copy(dst, acc, <usize>rows * dBytes);
  }
}

/**
 * One column item (bkv, c), bkv = b·Hkv + g: dV and dK rows of block column c of kv head g (keys
 * c·block … min(Nk, (c + 1)·block) − 1), summed over the group's query heads h = g·G + j
 * (G = H / Hkv), j ascending, each over its block rows in order: one fixed order. Query heads
 * j0 ≤ j < j1 of the group: all of them, or (a group whose slots do not fit at once) one chunk
 * of them, which stores where j0 = 0 and adds to the earlier chunks' sums otherwise; every
 * block product loads and stores the sum either way, so the chunks give the whole group's bits.
 * `firstSlots` [j1 − j0] i32: the first slot of query head j's P and dS (in pSlots, dsSlots).
 */
function columnItem(
  q: usize, dout: usize, dk: usize, dv: usize,
  kvPtr: usize, qPtr: usize, qIndices: usize, qEntries: usize, qOffset: usize, Bl: i32, Hl: i32,
  pSlots: usize, dsSlots: usize, firstSlots: usize, j0: i32, j1: i32,
  bkv: i32, c: i32, H: i32, Hkv: i32, N: i32, Nk: i32, D: i32, block: i32, R: i32, C: i32, causal: i32,
): void {
  const G = H / Hkv;
  const padded = (block + 7) & ~7;
  const dBytes = <usize>D << 2;
  const pBytes = <usize>padded << 2;
  const slotBytes = <usize>block * pBytes;
  const b = bkv / Hkv;
  const g = bkv - b * Hkv;
  const off = load<i32>(qOffset + (<usize>b << 2));
  const col0 = c * block;
  const cols = min(block, Nk - col0);
  if (cols <= 0) return;
  const colBase = (<usize>bkv * <usize>Nk + <usize>col0) * dBytes;
  // dV[j][·] = Σ_heads Σ_blocks Σ_i P[j][i]·dO[i][·], then dK[j][·] = Σ_heads Σ_blocks Σ_i dS[j][i]·Q[i][·]:
  // one output at a time, so that it stays in L1 across the column's blocks
  let first = true;
  for (let pass = 0; pass < 2; pass++) {
    const rhs = pass == 0 ? dout : q;
    const dst = (pass == 0 ? dv : dk) + colBase;
    first = j0 == 0;
    for (let j = j0; j < j1; j++) {
      const h = g * G + j;
      const slot = slotOf(b, h, Bl, Hl);
      const headRows = <usize>(b * H + h) * <usize>N;
      const slots = (pass == 0 ? pSlots : dsSlots) + <usize>load<i32>(firstSlots + (<usize>(j - j0) << 2)) * slotBytes;
      const headFirst = load<i32>(kvPtr + (<usize>(slot * R) << 2));
      const t0 = load<i32>(qPtr + (<usize>(slot * C + c) << 2));
      const t1 = load<i32>(qPtr + (<usize>(slot * C + c + 1) << 2));
      for (let t = t0; t < t1; t++) {
        const r = load<i32>(qIndices + (<usize>t << 2));
        const row0 = itemRow0(r, block, off);
        const rows = itemRowEnd(r, block, off, N) - row0;
        if (rows <= 0 || tileKind(causal != 0, off + row0, rows, col0, cols) == EMPTY) continue;
        const e = load<i32>(qEntries + (<usize>t << 2));
        const rowBase = (headRows + <usize>row0) * dBytes;
        blockMM(
          slots + <usize>(e - headFirst) * slotBytes, pBytes, 4, rhs + rowBase, dBytes, rows,
          dst, dBytes, cols, D, first ? INIT_ZERO : INIT_LOAD, 0,
        );
        first = false;
      }
    }
    if (first) fillF32(dst, cols * D, 0);
  }
}

/**
 * Kv batch·heads kvBegin..kvEnd-1 (bkv = b·Hkv + g), whole, with their groups' G = H / Hkv query
 * heads: row items block row by block row (each row for the group's heads in order), each column
 * item right after the row that completes it. Pointers are byte offsets: q, dout, dq
 * [B·H][N][D], k, v, dk, dv [B·Hkv][Nk][D], qOffset [B] i32; rpe [B·H][N][Nk], kpm [B][Nk],
 * am [N][Nk] additive or 0; the layout's tables (Bl·Hl slots, as attentionForward); `order`
 * [RB·Hkv][C] the columns of each (batch row, kv head) by readiness and `readyPtr`
 * [RB·Hkv][R + 2] i32, read at (b % RB)·Hkv + g (RB = `readyBatches`: 1 where every batch row
 * visits the same blocks): columns order[i][readyPtr[i][r] .. readyPtr[i][r + 1]) have their last
 * visited row (over the group's heads) at r − 1 (r = 0: none visited). `slots`: this task's
 * 2·G·slotsPerHead slots of block·padded floats, P of the G heads then their dS; `slotBase` [G]
 * i32: j·slotsPerHead; `scratch`: this task's own 3·D·padded + 4·padded + C·padded floats,
 * padded = block rounded up to 8 (twin: backwardRowsScratchFloats in src/cpu/attention.ts).
 */
export function attentionBackwardHeads(
  q: usize, k: usize, v: usize, dout: usize, dq: usize, dk: usize, dv: usize,
  rpe: usize, kpm: usize, am: usize,
  kvPtr: usize, kvIndices: usize, qPtr: usize, qIndices: usize, qEntries: usize, qOffset: usize, Bl: i32, Hl: i32,
  order: usize, readyPtr: usize, readyBatches: i32, slots: usize, slotsPerHead: i32, slotBase: usize,
  H: i32, Hkv: i32, N: i32, Nk: i32, D: i32, block: i32, R: i32, C: i32, causal: i32, scale: f32,
  kvBegin: i32, kvEnd: i32, scratch: usize,
): void {
  const G = H / Hkv;
  const padded = (block + 7) & ~7;
  const headSlots = <usize>slotsPerHead * <usize>block * (<usize>padded << 2);
  const pSlots = slots;
  const dsSlots = slots + <usize>G * headSlots;
  for (let bkv = kvBegin; bkv < kvEnd; bkv++) {
    const b = bkv / Hkv;
    const g = bkv - b * Hkv;
    const at = (b % readyBatches) * Hkv + g;
    const ready = readyPtr + (<usize>(at * (R + 2)) << 2);
    const cols = order + (<usize>(at * C) << 2);
    for (let r = 0; r <= R; r++) {
      if (r > 0) {
        for (let j = 0; j < G; j++) {
          rowItem(
            q, k, v, dout, dq, rpe, kpm, am, kvPtr, kvIndices, qOffset, Bl, Hl,
            pSlots + <usize>j * headSlots, dsSlots + <usize>j * headSlots,
            b * H + g * G + j, r - 1, H, Hkv, N, Nk, D, block, R, causal, scale, scratch,
          );
        }
      }
      const u1 = load<i32>(ready + (<usize>(r + 1) << 2));
      for (let u = load<i32>(ready + (<usize>r << 2)); u < u1; u++) {
        const c = load<i32>(cols + (<usize>u << 2));
        columnItem(
          q, dout, dk, dv, kvPtr, qPtr, qIndices, qEntries, qOffset, Bl, Hl, pSlots, dsSlots, slotBase, 0, G,
          bkv, c, H, Hkv, N, Nk, D, block, R, C, causal,
        );
      }
    }
  }
}

/**
 * Row items itemBegin..itemEnd-1 (item = bh·R + r) of a chunk of batch·heads (whole groups):
 * pSlots and dsSlots the chunk's slot arrays, slotBase [bh − bh0] i32 the first slot of each of
 * its (query) batch·heads. Other arguments as attentionBackwardHeads.
 */
export function attentionBackwardRows(
  q: usize, k: usize, v: usize, dout: usize, dq: usize,
  rpe: usize, kpm: usize, am: usize,
  kvPtr: usize, kvIndices: usize, qOffset: usize, Bl: i32, Hl: i32,
  pSlots: usize, dsSlots: usize, slotBase: usize, bh0: i32,
  H: i32, Hkv: i32, N: i32, Nk: i32, D: i32, block: i32, R: i32, causal: i32, scale: f32,
  itemBegin: i32, itemEnd: i32, scratch: usize,
): void {
  const slotBytes = <usize>block * (<usize>((block + 7) & ~7) << 2);
  for (let item = itemBegin; item < itemEnd; item++) {
    const bh = item / R;
    const first = <usize>load<i32>(slotBase + (<usize>(bh - bh0) << 2)) * slotBytes;
    rowItem(
      q, k, v, dout, dq, rpe, kpm, am, kvPtr, kvIndices, qOffset, Bl, Hl, pSlots + first, dsSlots + first,
      bh, item - bh * R, H, Hkv, N, Nk, D, block, R, causal, scale, scratch,
    );
  }
}

/**
 * Column items itemBegin..itemEnd-1 (item = bkv·C + c, bkv = b·Hkv + g) of a chunk, after its
 * row items; the chunk's query batch·heads [bh0, bh1): whole groups, or some query heads of one
 * group (their sums stored by the group's first chunk, added to by its later ones, in order).
 */
export function attentionBackwardColumns(
  q: usize, dout: usize, dk: usize, dv: usize,
  kvPtr: usize, qPtr: usize, qIndices: usize, qEntries: usize, qOffset: usize, Bl: i32, Hl: i32,
  pSlots: usize, dsSlots: usize, slotBase: usize, bh0: i32, bh1: i32,
  H: i32, Hkv: i32, N: i32, Nk: i32, D: i32, block: i32, R: i32, C: i32, causal: i32,
  itemBegin: i32, itemEnd: i32,
): void {
  const G = H / Hkv;
  for (let item = itemBegin; item < itemEnd; item++) {
    const bkv = item / C;
    const j0 = max(0, bh0 - bkv * G);
    const j1 = min(G, bh1 - bkv * G);
    const firstSlots = slotBase + (<usize>(bkv * G + j0 - bh0) << 2);
    columnItem(
      q, dout, dk, dv, kvPtr, qPtr, qIndices, qEntries, qOffset, Bl, Hl, pSlots, dsSlots, firstSlots, j0, j1,
      bkv, item - bkv * C, H, Hkv, N, Nk, D, block, R, C, causal,
    );
  }
}
