// One block row's pooled scores for content-based selection: s[c] = qp · kp[c] · scale for the
// allowed columns c < n. A row's scores are made where they are used (assembly/block-selection.ts)
// rather than stored: at long N the [B, H, R, C] scores would be the largest array of the call.
import { fma4, hsum4 } from './simd';

/** s[c] (f32 at `s`) for c < n: the dot of the D floats at `qp` and at kp + c·D floats, times scale. */
export function blockRowScores(qp: usize, kp: usize, n: i32, D: i32, scale: f32, s: usize): void {
  const rowBytes = <usize>D << 2;
  const D4 = D & ~3;
  let c = 0;
  // four columns at once: each qp chunk is loaded once for four dot products
  for (; c + 4 <= n; c += 4) {
    const k0 = kp + <usize>c * rowBytes;
    const k1 = k0 + rowBytes;
    const k2 = k1 + rowBytes;
    const k3 = k2 + rowBytes;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let d = 0; d < D4; d += 4) {
      const o = <usize>d << 2;
      const x = v128.load(qp + o);
      a0 = fma4(x, v128.load(k0 + o), a0);
      a1 = fma4(x, v128.load(k1 + o), a1);
      a2 = fma4(x, v128.load(k2 + o), a2);
      a3 = fma4(x, v128.load(k3 + o), a3);
    }
    let d0 = hsum4(a0), d1 = hsum4(a1), d2 = hsum4(a2), d3 = hsum4(a3);
    for (let d = D4; d < D; d++) {
      const o = <usize>d << 2;
      const x = load<f32>(qp + o);
      d0 += x * load<f32>(k0 + o);
      d1 += x * load<f32>(k1 + o);
      d2 += x * load<f32>(k2 + o);
      d3 += x * load<f32>(k3 + o);
    }
    const out = s + (<usize>c << 2);
    store<f32>(out, d0 * scale);
    store<f32>(out, d1 * scale, 4);
    store<f32>(out, d2 * scale, 8);
    store<f32>(out, d3 * scale, 12);
  }
  for (; c < n; c++) {
    const k0 = kp + <usize>c * rowBytes;
    let a0 = f32x4.splat(0);
    for (let d = 0; d < D4; d += 4) {
      const o = <usize>d << 2;
      a0 = fma4(v128.load(qp + o), v128.load(k0 + o), a0);
    }
    let d0 = hsum4(a0);
    for (let d = D4; d < D; d++) {
      const o = <usize>d << 2;
      d0 += load<f32>(qp + o) * load<f32>(k0 + o);
    }
    store<f32>(s + (<usize>c << 2), d0 * scale);
  }
}

/**
 * s[c] for c < n, Quest's upper bound: scale · Σ_d max(qp_d · lo_d, qp_d · hi_d) over the D floats
 * at lo + c·D and hi + c·D floats (a key block's elementwise min and max). Products and sums are
 * rounded as they come (no fused multiply-add): each rounding is monotone, so for one query row the
 * bound stays ≥ the float32 dot of any key between lo and hi taken in the same order.
 */
export function blockRowBounds(qp: usize, lo: usize, hi: usize, n: i32, D: i32, scale: f32, s: usize): void {
  const rowBytes = <usize>D << 2;
  const D4 = D & ~3;
  for (let c = 0; c < n; c++) {
    const l0 = lo + <usize>c * rowBytes;
    const h0 = hi + <usize>c * rowBytes;
    let a0 = f32x4.splat(0);
    for (let d = 0; d < D4; d += 4) {
      const o = <usize>d << 2;
      const x = v128.load(qp + o);
      a0 = f32x4.add(a0, f32x4.max(f32x4.mul(x, v128.load(l0 + o)), f32x4.mul(x, v128.load(h0 + o))));
    }
    let d0 = hsum4(a0);
    for (let d = D4; d < D; d++) {
      const o = <usize>d << 2;
      const x = load<f32>(qp + o);
      d0 += max(x * load<f32>(l0 + o), x * load<f32>(h0 + o));
    }
    store<f32>(s + (<usize>c << 2), d0 * scale);
  }
}
