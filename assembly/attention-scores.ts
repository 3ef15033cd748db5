// The score tile both attention kernels start from, and its masks. Scores are kept transposed,
// S[j][i] (key j, query i, row stride `padded` ≥ block, a multiple of 8), in base 2:
//   S[j][i] = log2(e)·(q_i·k_j·scale + rpe[i][j] + kpm[j] + am[i][j]), −∞ where causal cuts.
// Transposed, the softmax over j for one query i runs down a column, so the row max, the row
// sum and the rescaling are plain vertical f32x4 operations over four queries at a time, with
// no horizontal reduction; and Q is the operand packed (transposed, once per block row), while
// K and V are read in place as broadcast rows.
import { exp2x4, fma4 } from './simd';
import { blockMM, INIT_ZERO } from './tiles';

// @ts-ignore: decorator
@inline export const LOG2E: f32 = 1.4426950408889634;

/**
 * S[j][i] = Σ_d K[j][d]·Qt[d][i] for j < keys, i < queries rounded up to 8 (at most padded):
 * `k` points at the tile's first key row ([keys][D]), `qt` at the packed queries ([D][padded],
 * already times scale·log2(e)). A tile of a few queries (decode) computes only their columns;
 * a whole block computes all `padded`, as it always has.
 */
// @ts-ignore: decorator
@inline export function scoreTile(k: usize, qt: usize, s: usize, D: i32, keys: i32, queries: i32, padded: i32): void {
  const rowBytes = <usize>padded << 2;
  blockMM(k, <usize>D << 2, 4, qt, rowBytes, D, s, rowBytes, keys, min(padded, (queries + 7) & ~7), INIT_ZERO, 0);
}

/**
 * The score tile of fewer than 4 queries (a decode step's one query row): S[j][i] = q_i·k_j for
 * j < keys, i < queries, and 0 in the padded columns queries … 3. `qr` holds the queries as rows
 * ([queries][D], already times scale·log2(e)). Lanes run over d, four keys at a time, and one
 * transpose sums the four keys' lanes: K is read once per query as rows, where scoreTile's 4-query
 * tile would broadcast each element of K for columns that are mostly padding.
 */
export function scoreFew(k: usize, qr: usize, s: usize, D: i32, keys: i32, queries: i32, padded: i32): void {
  const dBytes = <usize>D << 2;
  const sRow = <usize>padded << 2;
  const d4 = D & ~3;
  for (let i = 0; i < queries; i++) {
    const qi = qr + <usize>i * dBytes;
    const si = s + (<usize>i << 2);
    let j = 0;
    for (; j + 4 <= keys; j += 4) {
      const k0 = k + <usize>j * dBytes;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let d = 0; d < d4; d += 4) {
        const off = <usize>d << 2;
        const x = v128.load(qi + off);
        a0 = fma4(x, v128.load(k0 + off), a0);
        a1 = fma4(x, v128.load(k0 + dBytes + off), a1);
        a2 = fma4(x, v128.load(k0 + 2 * dBytes + off), a2);
        a3 = fma4(x, v128.load(k0 + 3 * dBytes + off), a3);
      }
      // lanes (0 + 2, 1 + 3) of each accumulator, then of the halves: [Σa0, Σa1, Σa2, Σa3]
      const u01 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
      const u23 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
      const sum = f32x4.add(i64x2.shuffle(u01, u23, 0, 2), i64x2.shuffle(u01, u23, 1, 3));
      const sj = si + <usize>j * sRow;
      store<f32>(sj, f32x4.extract_lane(sum, 0) + tailDot(qi, k0, d4, D));
      store<f32>(sj + sRow, f32x4.extract_lane(sum, 1) + tailDot(qi, k0 + dBytes, d4, D));
      store<f32>(sj + 2 * sRow, f32x4.extract_lane(sum, 2) + tailDot(qi, k0 + 2 * dBytes, d4, D));
      store<f32>(sj + 3 * sRow, f32x4.extract_lane(sum, 3) + tailDot(qi, k0 + 3 * dBytes, d4, D));
    }
    for (; j < keys; j++) {
      const kj = k + <usize>j * dBytes;
      let a = f32x4.splat(0);
      for (let d = 0; d < d4; d += 4) a = fma4(v128.load(qi + (<usize>d << 2)), v128.load(kj + (<usize>d << 2)), a);
      const h = f32x4.add(a, i32x4.shuffle(a, a, 2, 3, 0, 1));
      store<f32>(si + <usize>j * sRow, f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1) + tailDot(qi, kj, d4, D));
    }
  }
  for (let j = 0; j < keys; j++) {
    for (let i = queries; i < 4; i++) store<f32>(s + <usize>j * sRow + (<usize>i << 2), 0);
  }
}

/** Σ_{d4 ≤ d < D} q[d]·k[d]: the last D mod 4 terms, 0 when D is a multiple of 4. */
// @ts-ignore: decorator
@inline function tailDot(q: usize, k: usize, d4: i32, D: i32): f32 {
  let t: f32 = 0;
  for (let d = d4; d < D; d++) t += load<f32>(q + (<usize>d << 2)) * load<f32>(k + (<usize>d << 2));
  return t;
}

/**
 * bias·log2(e), where a finite bias stays finite: a huge finite mask (below −f32max/log2(e))
 * would otherwise become −∞ and count as masked, which the reference does not do; one above
 * f32max/log2(e) would become +∞ and make the row NaN (+∞ − +∞), where the reference puts all of
 * the row's weight on it. −∞ stays −∞ (masked), +∞ becomes f32max.
 */
// @ts-ignore: decorator
@inline function toBase2(bias: v128): v128 {
  const ninf = f32x4.splat(-Infinity);
  const x = f32x4.pmin(f32x4.pmax(f32x4.mul(bias, f32x4.splat(LOG2E)), f32x4.splat(-F32.MAX_VALUE)), f32x4.splat(F32.MAX_VALUE));
  return v128.bitselect(ninf, x, f32x4.eq(bias, ninf));
}

// @ts-ignore: decorator
@inline function toBase2Scalar(bias: f32): f32 {
  return bias == -Infinity ? bias : min(max(bias * LOG2E, -F32.MAX_VALUE), F32.MAX_VALUE);
}

/**
 * Adds the masks to the score tile of `rows` queries (q rows qRow0.., of batch b) and `cols` keys
 * (col0..), in DeepSpeed's order (rpe, then key padding, then attention mask, all already
 * additive), and where `partial` applies the causal cut: key col0 + j is dropped for the query at
 * position p0 + t when j > t + shift, shift = p0 − col0 (0 on the diagonal of self-attention).
 * `rpe` [B·H][N][Nk] (its batch·head's rows start at `headRows`), `kpm` [B][Nk] and `am` [N][Nk]
 * are the whole tensors, 0 when absent. Only the rows × cols corner is touched: padded query
 * columns and key rows past `cols` stay as they are. Each element gets the same operations on
 * the vector and the scalar path, so the bits do not depend on the tile's size.
 */
export function applyMasks(
  s: usize, padded: i32, rows: i32, cols: i32, Nk: i32,
  rpeBase: usize, kpmBase: usize, amBase: usize,
  headRows: usize, b: i32, qRow0: i32, col0: i32, partial: bool, shift: i32,
): void {
  const rpe = rpeBase != 0 ? rpeBase + ((headRows + <usize>qRow0) * <usize>Nk + <usize>col0) * 4 : 0;
  const kpm = kpmBase != 0 ? kpmBase + (<usize>b * <usize>Nk + <usize>col0) * 4 : 0;
  const am = amBase != 0 ? amBase + (<usize>qRow0 * <usize>Nk + <usize>col0) * 4 : 0;
  const sRow = <usize>padded << 2;
  const nRow = <usize>Nk << 2;
  const ninf = f32x4.splat(-Infinity);
  if (rpe != 0 || am != 0) {
    // rpe and am are [i][j]: sum 4×4 blocks of the bias, transpose them, add to S rows j..j+3
    const rows4 = rows & ~3;
    const cols4 = cols & ~3;
    for (let i = 0; i < rows4; i += 4) {
      for (let j = 0; j < cols4; j += 4) {
        let b0 = f32x4.splat(0), b1 = b0, b2 = b0, b3 = b0; // rows i..i+3, columns j..j+3
        const off = <usize>i * nRow + (<usize>j << 2);
        if (rpe != 0) {
          b0 = v128.load(rpe + off);
          b1 = v128.load(rpe + off + nRow);
          b2 = v128.load(rpe + off + 2 * nRow);
          b3 = v128.load(rpe + off + 3 * nRow);
        }
        if (kpm != 0) {
          const kv = v128.load(kpm + (<usize>j << 2));
          b0 = f32x4.add(b0, kv);
          b1 = f32x4.add(b1, kv);
          b2 = f32x4.add(b2, kv);
          b3 = f32x4.add(b3, kv);
        }
        if (am != 0) {
          b0 = f32x4.add(b0, v128.load(am + off));
          b1 = f32x4.add(b1, v128.load(am + off + nRow));
          b2 = f32x4.add(b2, v128.load(am + off + 2 * nRow));
          b3 = f32x4.add(b3, v128.load(am + off + 3 * nRow));
        }
        const u0 = i32x4.shuffle(b0, b1, 0, 4, 1, 5);
        const u1 = i32x4.shuffle(b2, b3, 0, 4, 1, 5);
        const u2 = i32x4.shuffle(b0, b1, 2, 6, 3, 7);
        const u3 = i32x4.shuffle(b2, b3, 2, 6, 3, 7);
        const ps = s + <usize>j * sRow + (<usize>i << 2);
        v128.store(ps, f32x4.add(v128.load(ps), toBase2(i64x2.shuffle(u0, u1, 0, 2))));
        v128.store(ps + sRow, f32x4.add(v128.load(ps + sRow), toBase2(i64x2.shuffle(u0, u1, 1, 3))));
        v128.store(ps + 2 * sRow, f32x4.add(v128.load(ps + 2 * sRow), toBase2(i64x2.shuffle(u2, u3, 0, 2))));
        v128.store(ps + 3 * sRow, f32x4.add(v128.load(ps + 3 * sRow), toBase2(i64x2.shuffle(u2, u3, 1, 3))));
      }
    }
    // the edges the 4×4 blocks leave: rows past rows4 (all columns), columns past cols4
    for (let i = 0; i < rows; i++) {
      for (let j = i < rows4 ? cols4 : 0; j < cols; j++) {
        const off = <usize>i * nRow + (<usize>j << 2);
        let bias: f32 = 0;
        if (rpe != 0) bias = load<f32>(rpe + off);
        if (kpm != 0) bias += load<f32>(kpm + (<usize>j << 2));
        if (am != 0) bias += load<f32>(am + off);
        const ps = s + <usize>j * sRow + (<usize>i << 2);
        store<f32>(ps, load<f32>(ps) + toBase2Scalar(bias));
      }
    }
  } else if (kpm != 0) {
    // key padding alone is one value per key j: a splat added to S row j
    for (let j = 0; j < cols; j++) {
      const kb = toBase2Scalar(load<f32>(kpm + (<usize>j << 2)));
      const kv = f32x4.splat(kb);
      const ps = s + <usize>j * sRow;
      let i = 0;
      for (; i + 4 <= rows; i += 4) v128.store(ps + (<usize>i << 2), f32x4.add(v128.load(ps + (<usize>i << 2)), kv));
      for (; i < rows; i++) store<f32>(ps + (<usize>i << 2), load<f32>(ps + (<usize>i << 2)) + kb);
    }
  }
  if (partial) {
    // query t sees key j only when j ≤ t + shift: cut S[j][t] for t < j − shift
    for (let j = max(0, shift + 1); j < cols; j++) {
      const ps = s + <usize>j * sRow;
      const cut = min(j - shift, rows);
      let i = 0;
      for (; i + 4 <= cut; i += 4) v128.store(ps + (<usize>i << 2), ninf);
      for (; i < cut; i++) store<f32>(ps + (<usize>i << 2), -Infinity);
    }
  }
}

/** The max over a score tile's `block` key rows (`pBytes` apart) for the four queries at `ps`. */
// @ts-ignore: decorator
@inline export function columnMax4(ps: usize, block: i32, pBytes: usize): v128 {
  let mx = f32x4.splat(-Infinity);
  for (let j = 0; j < block; j++) {
    mx = f32x4.pmax(mx, v128.load(ps));
    ps += pBytes;
  }
  return mx;
}

/** x with −∞ lanes read as 0: the max a query with nothing kept yet subtracts (−∞ − −∞ is NaN). */
// @ts-ignore: decorator
@inline export function negInfAsZero4(x: v128): v128 {
  return v128.andnot(x, f32x4.eq(x, f32x4.splat(-Infinity)));
}

/**
 * One online-softmax step for the four queries at byte offset `pi` of every per-query array:
 * m ← max(m, the tile's column max); the tile's `block` key rows become p = 2^(s − m') in place
 * (m' = the new max, −∞ read as 0); l ← l·a + Σp; returns a = 2^(mOld − m'), the factor earlier
 * sums are rescaled by. `withDp` (a literal: the backward) also stores m' at `seen` and updates
 * dsum ← dsum·a + Σ p·dP over the dP tile `dp`.
 */
// @ts-ignore: decorator
@inline export function onlineSoftmaxStep4(
  s: usize, pi: usize, block: i32, pBytes: usize, m: usize, l: usize,
  withDp: bool, dp: usize, dsum: usize, seen: usize,
): v128 {
  const mOld = v128.load(m + pi);
  const mNew = f32x4.pmax(mOld, columnMax4(s + pi, block, pBytes));
  const mUse = negInfAsZero4(mNew);
  const a = exp2x4(f32x4.sub(mOld, mUse));
  v128.store(m + pi, mNew);
  if (withDp) v128.store(seen + pi, mUse);
  let sum = f32x4.splat(0);
  let sumDp = sum;
  let ps = s + pi;
  let pd = dp + pi;
  for (let j = 0; j < block; j++) {
    const p = exp2x4(f32x4.sub(v128.load(ps), mUse));
    v128.store(ps, p);
    sum = f32x4.add(sum, p);
    if (withDp) {
      sumDp = fma4(p, v128.load(pd), sumDp);
      pd += pBytes;
    }
    ps += pBytes;
  }
  v128.store(l + pi, fma4(v128.load(l + pi), a, sum));
  if (withDp) v128.store(dsum + pi, fma4(v128.load(dsum + pi), a, sumDp));
  return a;
}

/**
 * The online-softmax step for queries 0..queries−1 (a multiple of 4): onlineSoftmaxStep4's work per
 * four queries, eight queries per pass where it can, so that two exponential chains overlap (one
 * chain per pass leaves most of the core idle); the same operations on every element as
 * onlineSoftmaxStep4, so the same bits. The forward's rescale factors go to `alpha`.
 */
export function onlineSoftmaxForward(s: usize, queries: i32, block: i32, pBytes: usize, m: usize, l: usize, alpha: usize): void {
  onlineSoftmaxRows(s, queries, block, pBytes, m, l, alpha, false, 0, 0, 0);
}

/** The backward's: onlineSoftmaxStep4 with dP (`withDp`) over queries 0..queries−1, eight per pass. */
export function onlineSoftmaxBackward(s: usize, queries: i32, block: i32, pBytes: usize, m: usize, l: usize, dp: usize, dsum: usize, seen: usize): void {
  onlineSoftmaxRows(s, queries, block, pBytes, m, l, 0, true, dp, dsum, seen);
}

// @ts-ignore: decorator
@inline function onlineSoftmaxRows(
  s: usize, queries: i32, block: i32, pBytes: usize, m: usize, l: usize, alpha: usize,
  withDp: bool, dp: usize, dsum: usize, seen: usize,
): void {
  let i = 0;
  for (; i + 8 <= queries; i += 8) {
    const pi = <usize>i << 2;
    const mOld0 = v128.load(m + pi);
    const mOld1 = v128.load(m + pi, 16);
    let mx0 = f32x4.splat(-Infinity);
    let mx1 = mx0;
    let ps = s + pi;
    for (let j = 0; j < block; j++) {
      mx0 = f32x4.pmax(mx0, v128.load(ps));
      mx1 = f32x4.pmax(mx1, v128.load(ps, 16));
      ps += pBytes;
    }
    mx0 = f32x4.pmax(mOld0, mx0);
    mx1 = f32x4.pmax(mOld1, mx1);
    const mUse0 = negInfAsZero4(mx0);
    const mUse1 = negInfAsZero4(mx1);
    const a0 = exp2x4(f32x4.sub(mOld0, mUse0));
    const a1 = exp2x4(f32x4.sub(mOld1, mUse1));
    if (!withDp) {
      v128.store(alpha + pi, a0);
      v128.store(alpha + pi, a1, 16);
    }
    v128.store(m + pi, mx0);
    v128.store(m + pi, mx1, 16);
    if (withDp) {
      v128.store(seen + pi, mUse0);
      v128.store(seen + pi, mUse1, 16);
    }
    let sum0 = f32x4.splat(0);
    let sum1 = sum0;
    let sumDp0 = sum0;
    let sumDp1 = sum0;
    ps = s + pi;
    let pd = dp + pi;
    for (let j = 0; j < block; j++) {
      const p0 = exp2x4(f32x4.sub(v128.load(ps), mUse0));
      const p1 = exp2x4(f32x4.sub(v128.load(ps, 16), mUse1));
      v128.store(ps, p0);
      v128.store(ps, p1, 16);
      sum0 = f32x4.add(sum0, p0);
      sum1 = f32x4.add(sum1, p1);
      if (withDp) {
        sumDp0 = fma4(p0, v128.load(pd), sumDp0);
        sumDp1 = fma4(p1, v128.load(pd, 16), sumDp1);
        pd += pBytes;
      }
      ps += pBytes;
    }
    v128.store(l + pi, fma4(v128.load(l + pi), a0, sum0));
    v128.store(l + pi, fma4(v128.load(l + pi, 16), a1, sum1), 16);
    if (withDp) {
      v128.store(dsum + pi, fma4(v128.load(dsum + pi), a0, sumDp0));
      v128.store(dsum + pi, fma4(v128.load(dsum + pi, 16), a1, sumDp1), 16);
    }
  }
  for (; i < queries; i += 4) {
    const pi = <usize>i << 2;
    const a = onlineSoftmaxStep4(s, pi, block, pBytes, m, l, withDp, dp, dsum, seen);
    if (!withDp) v128.store(alpha + pi, a);
  }
}
