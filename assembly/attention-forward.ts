// Fused block-sparse attention forward, FlashAttention style: per (batch·head, block row) item,
// walk the row's kept column blocks, compute the score tile, update a running max and sum
// (online softmax, base 2), and accumulate P·V; the score matrix is never materialised.
// Host side: src/cpu/attention.ts.
import { blockMM, fillF32, packTransposed, INIT_SCALE, INIT_ZERO } from './tiles';
import { applyMasks, onlineSoftmaxForward, scoreTile, LOG2E } from './attention-scores';
import { EMPTY, PARTIAL, itemRow0, itemRowEnd, tileKind } from './causal-kind';
import { writeRows } from './attention-rows';

/**
 * out[bh][row] for items itemBegin..itemEnd-1, item = u·R + r (R the layout's block rows) over the
 * `hg` query heads bh = u·hg + j (j < hg; hg divides H / Hkv, so they share one kv head), and,
 * where `lse` is not 0, the rows' log-sum-exp lse[bh][row] (natural log; −∞ for a row with
 * nothing kept). The heads of an item walk the union of their kept column blocks together, so that
 * each K and V block is read once for all of them while it is in cache; each head still sums its
 * own blocks in its own order, so the bits do not depend on hg. Item (u, r) holds the query rows
 * of batch row b whose absolute positions qOffset[b] + i fall in block row r (none, some or
 * `block` of them: partial blocks and offsets are handled here, on the tiles, not by padded
 * copies); key column block c holds keys c·block … min(Nk, (c + 1)·block) − 1.
 * All pointers are byte offsets: q, out [B·H][N][D], k, v [B·Hkv][kvStride][D] of which the first
 * Nk rows per head are keys (kvStride = Nk, or a KV cache's capacity; query head h reads kv head
 * h / (H / Hkv)), lse [B·H][N], qOffset [B] i32;
 * rpe [B·H][N][Nk], kpm [B][Nk], am [N][Nk] additive or 0;
 * kvPtr/kvIndices the layout's row tables (src/layouts/compile.ts), of Bl·Hl slots: batch row b,
 * head h reads slot (b % Bl)·Hl + h % Hl. `causal` 0 or 1.
 * `scratch`: this task's own hg·(2·D·padded + 2·padded) + block·padded + padded + 2·hg words,
 * padded = block rounded up to 8 (twin: forwardScratchFloats in src/cpu/attention.ts).
 */
export function attentionForward(
  q: usize, k: usize, v: usize, out: usize, lse: usize,
  rpe: usize, kpm: usize, am: usize,
  kvPtr: usize, kvIndices: usize, qOffset: usize, Bl: i32, Hl: i32,
  H: i32, Hkv: i32, N: i32, Nk: i32, kvStride: i32, D: i32, block: i32, R: i32, causal: i32, scale: f32,
  hg: i32, itemBegin: i32, itemEnd: i32, scratch: usize,
): void {
  const group = H / Hkv;
  const padded = (block + 7) & ~7;
  const dBytes = <usize>D << 2;
  const pBytes = <usize>padded << 2;
  // per head j of the item, at scratch + j·stride: qt [D][padded] (queries transposed, times
  // scale·log2(e)), o [padded][D] (unnormalised output rows), m (running max, base 2), l (running
  // sum) [padded]; then, shared: s [block][padded] (scores, then probabilities), alpha [padded]
  // (this step's rescale), and each head's cursor and end in its row table [hg][2] i32
  const oOff = <usize>D * pBytes; // o, m, l from the head's qt
  const mOff = oOff + <usize>padded * dBytes;
  const lOff = mOff + pBytes;
  const stride = lOff + pBytes;
  const s = scratch + <usize>hg * stride;
  const alpha = s + <usize>block * pBytes;
  const cursors = alpha + pBytes;
  const masked = rpe != 0 || kpm != 0 || am != 0;
  for (let item = itemBegin; item < itemEnd; item++) {
    const u = item / R;
    const r = item - u * R;
    const bh0 = u * hg;
    const b = bh0 / H;
    const off = load<i32>(qOffset + (<usize>b << 2));
    const row0 = itemRow0(r, block, off);
    const rows = itemRowEnd(r, block, off, N) - row0;
    if (rows <= 0) continue; // no query of this batch row sits in block row r
    const p0 = off + row0; // the absolute position of query row0
    const rows4 = (rows + 3) & ~3; // query rows the P·V tiles cover
    const kvRows = <usize>(b * Hkv + (bh0 % H) / group) * <usize>kvStride; // the heads' kv head's first row in k, v
    let left = 0; // heads with kept blocks still to walk
    for (let j = 0; j < hg; j++) {
      const bh = bh0 + j;
      const qt = scratch + <usize>j * stride;
      packTransposed(q + (<usize>bh * <usize>N + <usize>row0) * dBytes, D, rows, padded, qt, scale * LOG2E);
      fillF32(qt + oOff, padded * D, 0);
      fillF32(qt + mOff, padded, -Infinity);
      fillF32(qt + lOff, padded, 0);
      const slot = (b % Bl) * Hl + (bh % H) % Hl;
      const e0 = load<i32>(kvPtr + (<usize>(slot * R + r) << 2));
      const e1 = load<i32>(kvPtr + (<usize>(slot * R + r + 1) << 2));
      store<i32>(cursors + (<usize>j << 3), e0);
      store<i32>(cursors + (<usize>j << 3), e1, 4);
      if (e0 < e1) left++;
    }
    while (left > 0) {
      // the next column block: the least among the heads' next kept ones
      let c = 0x7fffffff;
      for (let j = 0; j < hg; j++) {
        const e = load<i32>(cursors + (<usize>j << 3));
        if (e < load<i32>(cursors + (<usize>j << 3), 4)) c = min(c, load<i32>(kvIndices + (<usize>e << 2)));
      }
      const col0 = c * block;
      const cols = min(block, Nk - col0);
      const kind = tileKind(causal != 0, p0, rows, col0, cols);
      const kb = k + (kvRows + <usize>col0) * dBytes;
      const vb = v + (kvRows + <usize>col0) * dBytes;
      for (let j = 0; j < hg; j++) {
        const e = load<i32>(cursors + (<usize>j << 3));
        const e1 = load<i32>(cursors + (<usize>j << 3), 4);
        if (e >= e1 || load<i32>(kvIndices + (<usize>e << 2)) != c) continue;
        store<i32>(cursors + (<usize>j << 3), e + 1);
        if (e + 1 == e1) left--;
        if (kind == EMPTY || cols <= 0) continue; // entirely after the queries' positions
        const bh = bh0 + j;
        const qt = scratch + <usize>j * stride;
        const o = qt + oOff;
        if (kind == PARTIAL) partialScoreTile(kb, qt, s, D, cols, rows, padded, p0 - col0);
        else scoreTile(kb, qt, s, D, cols, rows, padded);
        if (masked || kind == PARTIAL) {
          applyMasks(
            s, padded, rows, cols, Nk,
            rpe, kpm, am, <usize>bh * <usize>N, b, row0, col0, kind == PARTIAL, p0 - col0,
          );
        }
        // online softmax, four queries per vector: new max, rescale factor, exponentials, sums
        onlineSoftmaxForward(s, rows4, cols, pBytes, qt + mOff, qt + lOff, alpha);
        // o[i][·] = alpha[i]·o[i][·] + Σ_j P[j][i]·V[j][·]
        if (kind == PARTIAL) partialPV(s, pBytes, vb, dBytes, cols, o, rows4, D, alpha, p0 - col0);
        else blockMM(s, 4, pBytes, vb, dBytes, cols, o, dBytes, rows4, D, INIT_SCALE, alpha);
      }
    }
    // out = o / l (zeros for a query with nothing kept); lse = ln2·max₂ + ln l
    for (let j = 0; j < hg; j++) {
      const headRows = <usize>(bh0 + j) * <usize>N;
      const qt = scratch + <usize>j * stride;
      writeRows(qt + oOff, qt + mOff, qt + lOff, rows, D, out + (headRows + <usize>row0) * dBytes, lse != 0 ? lse + ((headRows + <usize>row0) << 2) : 0);
    }
  }
}

/**
 * scoreTile for a tile the causal mask cuts (key j dropped for query t when j > t + shift): each
 * band of 4 keys skips the 8-query strips that are wholly cut before them (applyMasks sets those
 * scores to −∞ afterwards, so what the skipped entries held does not matter). Only strips of real
 * queries are skipped; the rest is scoreTile's arithmetic, so the same bits.
 */
function partialScoreTile(k: usize, qt: usize, s: usize, D: i32, keys: i32, queries: i32, padded: i32, shift: i32): void {
  const rowBytes = <usize>padded << 2;
  const dBytes = <usize>D << 2;
  const width = min(padded, (queries + 7) & ~7);
  const realStrips = queries & ~7;
  for (let j0 = 0; j0 < keys; j0 += 4) {
    const n0 = min(max(0, j0 - shift) & ~7, realStrips); // queries t < n0 see none of keys j0…j0+3
    blockMM(
      k + <usize>j0 * dBytes, dBytes, 4, qt + (<usize>n0 << 2), rowBytes, D,
      s + <usize>j0 * rowBytes + (<usize>n0 << 2), rowBytes, min(4, keys - j0), width - n0, INIT_ZERO, 0,
    );
  }
}

/**
 * The P·V product of a cut tile: the band of queries i0…i0 + 3 sums only the keys j ≤ i0 + 3 + shift
 * (the later keys' P are exactly 0 for all four), in blockMM's order, with the same rescale.
 */
function partialPV(s: usize, pBytes: usize, vb: usize, dBytes: usize, cols: i32, o: usize, rows4: i32, D: i32, alpha: usize, shift: i32): void {
  for (let i0 = 0; i0 < rows4; i0 += 4) {
    const keys = min(cols, max(0, i0 + 4 + shift));
    blockMM(s + (<usize>i0 << 2), 4, pBytes, vb, dBytes, keys, o + <usize>i0 * dBytes, dBytes, 4, D, INIT_SCALE, alpha + (<usize>i0 << 2));
  }
}
