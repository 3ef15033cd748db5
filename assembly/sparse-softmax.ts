// DeepSpeed's block-sparse Softmax on the CPU (softmax_fwd.tr / softmax_bwd.tr), in place on the
// [B, nnz, block, block] data. A task owns whole block rows (batch-head, r), so it owns every
// kept block of its rows: per row of the virtual [N, N] matrix it walks the row's kept blocks
// (the layout's row tables) three times — scores and max, exponentials and sum, normalisation.
// Host side: src/cpu/softmax.ts.
import { expNeg4, hmax4, hsum4 } from './simd';
import { EMPTY, PARTIAL, entryKind } from './causal-kind';


/**
 * y = softmax(x·scale + rpe + keyPadding + attnMask) over each row's kept entries, causal (j > i
 * is −∞) when asked; blocks above the diagonal under causal and rows with nothing left are zeros.
 * Items t = bh·R + r in [begin, end) (bh = b·H + h, N = R·block).
 * - x: [B, nnz, block, block], overwritten with y
 * - kvPtr / kvIndices / causalKind: the layout's row tables
 * - rpe [B, H, N, N], kpm [B, N], am [N, N]: additive, 0 when absent
 */
export function softmaxForward(
  x: usize, kvPtr: usize, kvIndices: usize, causalKind: usize,
  H: i32, R: i32, nnz: i32, blk: i32, scale: f32,
  rpe: usize, kpm: usize, am: usize, causal: bool, begin: i32, end: i32,
): void {
  const N = R * blk;
  const blockBytes = <usize>blk * <usize>blk << 2;
  const vscale = f32x4.splat(scale);
  const ninf = f32x4.splat(-Infinity);
  const iota = i32x4(0, 1, 2, 3);
  const vend = blk & ~3;
  for (let t = begin; t < end; t++) {
    const bh = t / R;
    const r = t - bh * R;
    const b = bh / H;
    const h = bh - b * H;
    const row = h * R + r;
    const e0 = load<i32>(kvPtr + (<usize>row << 2));
    const e1 = load<i32>(kvPtr + (<usize>row << 2), 4);
    if (e0 == e1) continue;
    const xb = x + <usize>b * <usize>nnz * blockBytes;
    for (let ii = 0; ii < blk; ii++) {
      const i = r * blk + ii;
      const rowOff = <usize>ii * <usize>blk << 2;
      // pass 1: scores and their max
      let vmax = ninf;
      let smax: f32 = -Infinity;
      for (let e = e0; e < e1; e++) {
        const kind = entryKind(causalKind, causal, e);
        if (kind == EMPTY) continue;
        const j0 = load<i32>(kvIndices + (<usize>e << 2)) * blk;
        const seg = xb + <usize>e * blockBytes + rowOff;
        const rp = rpe != 0 ? rpe + (((<usize>bh * <usize>N + <usize>i) * <usize>N + <usize>j0) << 2) : 0;
        const kp = kpm != 0 ? kpm + ((<usize>b * <usize>N + <usize>j0) << 2) : 0;
        const ap = am != 0 ? am + ((<usize>i * <usize>N + <usize>j0) << 2) : 0;
        // under causal, a diagonal block keeps j ≤ ii only
        const lim = kind == PARTIAL ? ii + 1 : blk;
        const vlim = i32x4.splat(lim);
        let j = 0;
        for (; j < vend; j += 4) {
          const o = <usize>j << 2;
          let s = f32x4.mul(v128.load(seg + o), vscale);
          if (rp != 0) s = f32x4.add(s, v128.load(rp + o));
          if (kp != 0) s = f32x4.add(s, v128.load(kp + o));
          if (ap != 0) s = f32x4.add(s, v128.load(ap + o));
          if (kind == PARTIAL) s = v128.bitselect(ninf, s, i32x4.ge_s(i32x4.add(iota, i32x4.splat(j)), vlim));
          v128.store(seg + o, s);
          vmax = f32x4.pmax(vmax, s); // maxps; NaN-exact max is not needed
        }
        for (; j < blk; j++) {
          const o = <usize>j << 2;
          let s = load<f32>(seg + o) * scale;
          if (rp != 0) s += load<f32>(rp + o);
          if (kp != 0) s += load<f32>(kp + o);
          if (ap != 0) s += load<f32>(ap + o);
          if (j >= lim) s = -Infinity;
          store<f32>(seg + o, s);
          smax = max(smax, s);
        }
      }
      const m = max(hmax4(vmax), smax);
      if (m == -Infinity) {
        // nothing left in this row: zeros, never NaN
        for (let e = e0; e < e1; e++) memory.fill(xb + <usize>e * blockBytes + rowOff, 0, <usize>blk << 2);
        continue;
      }
      // pass 2: exponentials and their sum
      const vm = f32x4.splat(m);
      let vsum = f32x4.splat(0);
      let ssum: f32 = 0;
      for (let e = e0; e < e1; e++) {
        const kind = entryKind(causalKind, causal, e);
        if (kind == EMPTY) continue;
        const seg = xb + <usize>e * blockBytes + rowOff;
        let j = 0;
        for (; j < vend; j += 4) {
          const o = <usize>j << 2;
          const p = expNeg4(f32x4.sub(v128.load(seg + o), vm));
          v128.store(seg + o, p);
          vsum = f32x4.add(vsum, p);
        }
        for (; j < blk; j++) {
          const o = <usize>j << 2;
          const p = f32x4.extract_lane(expNeg4(f32x4.splat(load<f32>(seg + o) - m)), 0);
          store<f32>(seg + o, p);
          ssum += p;
        }
      }
      // pass 3: normalise (by the reciprocal: within an ulp of DeepSpeed's division); dropped blocks become zeros
      const inv: f32 = 1 / (hsum4(vsum) + ssum);
      const vinv = f32x4.splat(inv);
      for (let e = e0; e < e1; e++) {
        const seg = xb + <usize>e * blockBytes + rowOff;
        const kind = entryKind(causalKind, causal, e);
        if (kind == EMPTY) {
          memory.fill(seg, 0, <usize>blk << 2);
          continue;
        }
        let j = 0;
        for (; j < vend; j += 4) {
          const o = <usize>j << 2;
          v128.store(seg + o, f32x4.mul(v128.load(seg + o), vinv));
        }
        for (; j < blk; j++) {
          const o = <usize>j << 2;
          store<f32>(seg + o, load<f32>(seg + o) * inv);
        }
      }
    }
  }
}

/**
 * DeepSpeed's softmax backward: dx = y ∘ (dy − rowsum(y ∘ dy)) · scale, the row sum over the row's
 * kept blocks. Items t = bh·R + r in [begin, end).
 * - y: [B, nnz, block, block]; dy: the same shape, overwritten with dx
 */
export function softmaxBackward(
  y: usize, dy: usize, kvPtr: usize, H: i32, R: i32, nnz: i32, blk: i32, scale: f32, begin: i32, end: i32,
): void {
  const blockBytes = <usize>blk * <usize>blk << 2;
  const vscale = f32x4.splat(scale);
  const vend = blk & ~3;
  for (let t = begin; t < end; t++) {
    const bh = t / R;
    const r = t - bh * R;
    const b = bh / H;
    const h = bh - b * H;
    const row = h * R + r;
    const e0 = load<i32>(kvPtr + (<usize>row << 2));
    const e1 = load<i32>(kvPtr + (<usize>row << 2), 4);
    if (e0 == e1) continue;
    const batch = <usize>b * <usize>nnz * blockBytes;
    for (let ii = 0; ii < blk; ii++) {
      const rowOff = batch + (<usize>ii * <usize>blk << 2);
      let vsum = f32x4.splat(0);
      let ssum: f32 = 0;
      for (let e = e0; e < e1; e++) {
        const off = <usize>e * blockBytes + rowOff;
        const ys = y + off;
        const gs = dy + off;
        let j = 0;
        for (; j < vend; j += 4) {
          const o = <usize>j << 2;
          vsum = f32x4.add(vsum, f32x4.mul(v128.load(ys + o), v128.load(gs + o)));
        }
        for (; j < blk; j++) {
          const o = <usize>j << 2;
          ssum += load<f32>(ys + o) * load<f32>(gs + o);
        }
      }
      const sum = hsum4(vsum) + ssum;
      const vs = f32x4.splat(sum);
      for (let e = e0; e < e1; e++) {
        const off = <usize>e * blockBytes + rowOff;
        const ys = y + off;
        const gs = dy + off;
        let j = 0;
        for (; j < vend; j += 4) {
          const o = <usize>j << 2;
          v128.store(gs + o, f32x4.mul(f32x4.mul(v128.load(ys + o), f32x4.sub(v128.load(gs + o), vs)), vscale));
        }
        for (; j < blk; j++) {
          const o = <usize>j << 2;
          store<f32>(gs + o, load<f32>(ys + o) * (load<f32>(gs + o) - sum) * scale);
        }
      }
    }
  }
}
