// The packed-panel GEMM under sdd, dsd and dds, shaped like BLIS: operands are first packed into
// panels (op(A) in panels of MR = 4 rows, op(B) in panels of NR = 8 columns, k contiguous inside
// a panel, zero-padded past the edge), then a 4×8 register tile walks a panel pair. Packing makes
// every transpose combination the same inner loop and every edge the same tile (stored through
// a scratch tile), so each output element sees one sequence of operations wherever it sits and
// whichever task computes it.
//
// Twin constants: MR and NR are mirrored in src/cpu/matmul.ts (scratch and packed sizes).
import { fma4 } from './simd';

/**
 * Packs the logical matrix X[p][k] (p < P, k < K, element at `src + 4·(p·pStride + k·kStride)`)
 * into the panels [panelBegin, panelEnd) of width W (4 or 8): panel q holds X[q·W + lane][k] at
 * `dst + 4·((q·K + k)·W + lane)`, zeros where q·W + lane ≥ P.
 */
export function packPanels(
  src: usize, dst: usize, P: i32, K: i32, pStride: i32, kStride: i32, W: i32, panelBegin: i32, panelEnd: i32,
): void {
  for (let q = panelBegin; q < panelEnd; q++) {
    const p0 = q * W;
    const valid = min(W, P - p0);
    const out = dst + (<usize>q * <usize>K * <usize>W << 2);
    const base = src + (<usize>p0 * <usize>pStride << 2);
    if (valid == W && pStride == 1) {
      // op(X) rows are contiguous along p: plain vector copies
      const ks = <usize>kStride << 2;
      let s = base;
      let d = out;
      if (W == 8) {
        for (let k = 0; k < K; k++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += ks;
          d += 32;
        }
      } else {
        for (let k = 0; k < K; k++) {
          v128.store(d, v128.load(s));
          s += ks;
          d += 16;
        }
      }
    } else if (valid == W && kStride == 1) {
      // contiguous along k: 4×4 transposes
      const ps = <usize>pStride << 2;
      const Wb = <usize>W << 2;
      for (let g = 0; g < W; g += 4) {
        const r0 = base + (<usize>g * ps);
        const r1 = r0 + ps;
        const r2 = r1 + ps;
        const r3 = r2 + ps;
        const o = out + (<usize>g << 2);
        let k = 0;
        for (; k + 4 <= K; k += 4) {
          const kb = <usize>k << 2;
          const a0 = v128.load(r0 + kb);
          const a1 = v128.load(r1 + kb);
          const a2 = v128.load(r2 + kb);
          const a3 = v128.load(r3 + kb);
          const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5);
          const t1 = i32x4.shuffle(a0, a1, 2, 6, 3, 7);
          const t2 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
          const t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
          const d = o + <usize>k * Wb;
          v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
          v128.store(d + Wb, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
          v128.store(d + 2 * Wb, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
          v128.store(d + 3 * Wb, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
        }
        for (; k < K; k++) {
          const kb = <usize>k << 2;
          const d = o + <usize>k * Wb;
          store<f32>(d, load<f32>(r0 + kb));
          store<f32>(d, load<f32>(r1 + kb), 4);
          store<f32>(d, load<f32>(r2 + kb), 8);
          store<f32>(d, load<f32>(r3 + kb), 12);
        }
      }
    } else {
      for (let k = 0; k < K; k++) {
        const d = out + (<usize>k * <usize>W << 2);
        const s = base + (<usize>k * <usize>kStride << 2);
        for (let l = 0; l < W; l++) {
          store<f32>(d + (<usize>l << 2), l < valid ? load<f32>(s + (<usize>l * <usize>pStride << 2)) : <f32>0);
        }
      }
    }
  }
}

/**
 * One 4×8 tile: C[rows×cols] = (acc ? C : 0) + Apanel·Bpanel over kc, where `pa` steps 16 bytes
 * and `pb` 32 bytes per k. C rows are `ldc` bytes apart. The tile is always computed whole; a
 * partial one (rows < 4 or cols < 8) is stored through the 128-byte scratch `tmp`.
 */
function tile4x8(pa: usize, pb: usize, kc: i32, c: usize, ldc: usize, acc: bool, rows: i32, cols: i32, tmp: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  // Not unrolled: V8 hoists the loads of an unrolled body and spills accumulators (measured
  // slower: bench/results/README.md). 8 accumulators cover the FMA latency; relaxed_madd makes it 8 FMAs and 6 loads per k.
  const end = pa + (<usize>kc << 4);
  while (pa < end) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = fma4(a, b0, c00); c01 = fma4(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = fma4(a, b0, c10); c11 = fma4(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = fma4(a, b0, c20); c21 = fma4(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = fma4(a, b0, c30); c31 = fma4(a, b1, c31);
    pa += 16;
    pb += 32;
  }
  if (rows == 4 && cols == 8) {
    let p = c;
    if (acc) {
      c00 = f32x4.add(v128.load(p), c00); c01 = f32x4.add(v128.load(p, 16), c01); p += ldc;
      c10 = f32x4.add(v128.load(p), c10); c11 = f32x4.add(v128.load(p, 16), c11); p += ldc;
      c20 = f32x4.add(v128.load(p), c20); c21 = f32x4.add(v128.load(p, 16), c21); p += ldc;
      c30 = f32x4.add(v128.load(p), c30); c31 = f32x4.add(v128.load(p, 16), c31);
      p = c;
    }
    v128.store(p, c00); v128.store(p, c01, 16); p += ldc;
    v128.store(p, c10); v128.store(p, c11, 16); p += ldc;
    v128.store(p, c20); v128.store(p, c21, 16); p += ldc;
    v128.store(p, c30); v128.store(p, c31, 16);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  for (let i = 0; i < rows; i++) {
    const src = tmp + (<usize>i << 5);
    const dst = c + <usize>i * ldc;
    for (let j = 0; j < cols; j++) {
      const o = <usize>j << 2;
      // same operation order as the vector path: C + tile
      store<f32>(dst + o, acc ? load<f32>(dst + o) + load<f32>(src + o) : load<f32>(src + o));
    }
  }
}

/**
 * C[m×n] = (acc ? C : 0) + op(A)·op(B) over kc, from packed panels: A panel i at `pa + i·paStride`,
 * B panel j at `pb + j·pbStride` (bytes), C rows `ldc` floats apart. `rowsOuter` walks A panels
 * in the outer loop (when n is one block and m is long: each A panel stays in L1 across the
 * n/8 B panels), else B panels outer (each B panel reused across the m/4 A panels).
 */
export function gemmPanels(
  pa: usize, paStride: usize, pb: usize, pbStride: usize, kc: i32, m: i32, n: i32,
  c: usize, ldc: i32, acc: bool, tmp: usize, rowsOuter: bool,
): void {
  const ldcb = <usize>ldc << 2;
  if (rowsOuter) {
    for (let i = 0; i < m; i += 4) {
      const a = pa + <usize>(i >> 2) * paStride;
      const rows = min(4, m - i);
      const crow = c + <usize>i * ldcb;
      for (let j = 0; j < n; j += 8) {
        tile4x8(a, pb + <usize>(j >> 3) * pbStride, kc, crow + (<usize>j << 2), ldcb, acc, rows, min(8, n - j), tmp);
      }
    }
  } else {
    for (let j = 0; j < n; j += 8) {
      const b = pb + <usize>(j >> 3) * pbStride;
      const cols = min(8, n - j);
      const ccol = c + (<usize>j << 2);
      for (let i = 0; i < m; i += 4) {
        tile4x8(pa + <usize>(i >> 2) * paStride, b, kc, ccol + <usize>i * ldcb, ldcb, acc, min(4, m - i), cols, tmp);
      }
    }
  }
}

/** Zeros `rows` rows of `cols` floats, `ld` floats apart. */
export function zeroRows(c: usize, rows: i32, cols: i32, ld: i32): void {
  for (let i = 0; i < rows; i++) memory.fill(c + (<usize>i * <usize>ld << 2), 0, <usize>cols << 2);
}

/**
 * Packs a dense operand for sdd / dsd / dds (export `matmulPack`). There are `count` matrices
 * (batch-heads), `srcStride` floats apart; each is the logical X[groups·G × K] (element (p, k) at
 * `p·pStride + k·kStride`), packed group by group into ceil(G/W) panels of width W, so that a
 * group (one block of rows or columns in sdd; the whole matrix in dsd and dds) starts a panel.
 * Items are (matrix, group, panel) flattened; this call packs items [begin, end), so tasks write
 * disjoint panels.
 */
export function matmulPack(
  src: usize, dst: usize, groups: i32, G: i32, K: i32, pStride: i32, kStride: i32, W: i32,
  srcStride: i32, begin: i32, end: i32,
): void {
  const ppg = (G + W - 1) / W;
  const unitBytes = <usize>ppg * <usize>K * <usize>W << 2;
  let t = begin;
  while (t < end) {
    const unit = t / ppg;
    const q0 = t - unit * ppg;
    const q1 = min(ppg, q0 + (end - t));
    const bh = unit / groups;
    const g = unit - bh * groups;
    const base = src + ((<usize>bh * <usize>srcStride + <usize>g * <usize>G * <usize>pStride) << 2);
    packPanels(base, dst + <usize>unit * unitBytes, G, K, pStride, kStride, W, q0, q1);
    t += q1 - q0;
  }
}
