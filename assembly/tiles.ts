// Register-tiled micro-kernels for the attention kernels (and the SIMD ceiling the benchmark
// measures them against). One shape serves every product in attention: C (+)= A·B where A is
// read one scalar at a time and broadcast (so A may sit in any orientation: rows of K, a
// transposed score tile, ...) and B is read as contiguous rows. The tile is 4 rows × 8 columns:
// 8 f32x4 accumulators + 2 B vectors + 1 broadcast (+1 product temporary without relaxed SIMD)
// fits the 15 xmm registers V8 allocates on x64 (xmm15 is its scratch). Of the shapes measured on
// packed 64×64×64 operands (4×8, 2×16, 5×8, 4×12, 6×8, 4×8 with k unrolled twice; the rates are in
// bench/results/README.md), 4×8 was the fastest in both builds: the bigger tiles
// spill. V8 compiles the 4×8 loop to 4 vbroadcastss, 2 vmovdqu and 8 vfmadd231ps per k.
import { fma4 } from './simd';

/** blockMM's `init`: start from zeros, from C, or from C with row m scaled by alpha[m]. */
// @ts-ignore: decorator
@inline export const INIT_ZERO: i32 = 0;
// @ts-ignore: decorator
@inline export const INIT_LOAD: i32 = 1;
// @ts-ignore: decorator
@inline export const INIT_SCALE: i32 = 2;

/**
 * C[M][N] = init(C) + Σ_{k<K} A(m, k)·B[k][n], f32. Strides are in bytes:
 * A(m, k) at pa + m·sa + k·ka, B row k at pb + k·sb (contiguous in n), C row m at pc + m·sc,
 * alpha[m] at palpha + 4m (INIT_SCALE only). Any M, N ≥ 0: 4×8 tiles, then 4-column strips,
 * then single columns; rows in fours, then single rows. The summation order over k is fixed
 * (k ascending, one accumulator per output), so the result never depends on the caller's split.
 */
export function blockMM(
  pa: usize, sa: usize, ka: usize,
  pb: usize, sb: usize, K: i32,
  pc: usize, sc: usize, M: i32, N: i32,
  init: i32, palpha: usize,
): void {
  // A's rows 4 bytes apart (a transposed tile: P, dS) take constant load offsets, as the ceiling does
  if (sa == 4) rowBands(true, pa, 4, ka, pb, sb, K, pc, sc, M, N, init, palpha);
  else rowBands(false, pa, sa, ka, pb, sb, K, pc, sc, M, N, init, palpha);
}

// @ts-ignore: decorator
@inline function rowBands(
  aT: bool, pa: usize, sa: usize, ka: usize,
  pb: usize, sb: usize, K: i32,
  pc: usize, sc: usize, M: i32, N: i32,
  init: i32, palpha: usize,
): void {
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    rowBand(4, aT, pa + <usize>m * sa, sa, ka, pb, sb, K, pc + <usize>m * sc, sc, N, init, palpha + (<usize>m << 2));
  }
  for (; m < M; m++) {
    rowBand(1, aT, pa + <usize>m * sa, sa, ka, pb, sb, K, pc + <usize>m * sc, sc, N, init, palpha + (<usize>m << 2));
  }
}

// @ts-ignore: decorator
@inline function rowBand(
  rows: i32, aT: bool, pa: usize, sa: usize, ka: usize, pb: usize, sb: usize, K: i32,
  pc: usize, sc: usize, N: i32, init: i32, palpha: usize,
): void {
  let n = 0;
  for (; n + 8 <= N; n += 8) {
    tile(rows, 8, aT, pa, sa, ka, pb + (<usize>n << 2), sb, K, pc + (<usize>n << 2), sc, init, palpha);
  }
  if (n + 4 <= N) {
    tile(rows, 4, aT, pa, sa, ka, pb + (<usize>n << 2), sb, K, pc + (<usize>n << 2), sc, init, palpha);
    n += 4;
  }
  for (; n < N; n++) {
    for (let r = 0; r < rows; r++) {
      const pr = pa + <usize>r * sa;
      const pcr = pc + <usize>r * sc + (<usize>n << 2);
      let acc: f32 = 0;
      if (init != INIT_ZERO) {
        acc = load<f32>(pcr);
        if (init == INIT_SCALE) acc *= load<f32>(palpha + (<usize>r << 2));
      }
      let qa = pr;
      let qb = pb + (<usize>n << 2);
      for (let k = 0; k < K; k++) {
        acc += load<f32>(qa) * load<f32>(qb);
        qa += ka;
        qb += sb;
      }
      store<f32>(pcr, acc);
    }
  }
}

/** One register tile of `rows` (4 or 1) × `cols` (8 or 4); both are constants after inlining. */
// @ts-ignore: decorator
@inline function tile(
  rows: i32, cols: i32, aT: bool, pa: usize, sa: usize, ka: usize, pb: usize, sb: usize, K: i32,
  pc: usize, sc: usize, init: i32, palpha: usize,
): void {
  const sa2 = sa << 1;
  const sa3 = sa2 + sa;
  const sc2 = sc << 1;
  const sc3 = sc2 + sc;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (init != INIT_ZERO) {
    c00 = v128.load(pc);
    if (cols == 8) c01 = v128.load(pc, 16);
    if (rows == 4) {
      c10 = v128.load(pc + sc);
      c20 = v128.load(pc + sc2);
      c30 = v128.load(pc + sc3);
      if (cols == 8) {
        c11 = v128.load(pc + sc, 16);
        c21 = v128.load(pc + sc2, 16);
        c31 = v128.load(pc + sc3, 16);
      }
    }
    if (init == INIT_SCALE) {
      let a = v128.load32_splat(palpha);
      c00 = f32x4.mul(c00, a);
      if (cols == 8) c01 = f32x4.mul(c01, a);
      if (rows == 4) {
        a = v128.load32_splat(palpha, 4);
        c10 = f32x4.mul(c10, a);
        if (cols == 8) c11 = f32x4.mul(c11, a);
        a = v128.load32_splat(palpha, 8);
        c20 = f32x4.mul(c20, a);
        if (cols == 8) c21 = f32x4.mul(c21, a);
        a = v128.load32_splat(palpha, 12);
        c30 = f32x4.mul(c30, a);
        if (cols == 8) c31 = f32x4.mul(c31, a);
      }
    }
  }
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(pb);
    const b1 = cols == 8 ? v128.load(pb, 16) : b0;
    let x = v128.load32_splat(pa);
    c00 = fma4(x, b0, c00);
    if (cols == 8) c01 = fma4(x, b1, c01);
    if (rows == 4) {
      x = aT ? v128.load32_splat(pa, 4) : v128.load32_splat(pa + sa);
      c10 = fma4(x, b0, c10);
      if (cols == 8) c11 = fma4(x, b1, c11);
      x = aT ? v128.load32_splat(pa, 8) : v128.load32_splat(pa + sa2);
      c20 = fma4(x, b0, c20);
      if (cols == 8) c21 = fma4(x, b1, c21);
      x = aT ? v128.load32_splat(pa, 12) : v128.load32_splat(pa + sa3);
      c30 = fma4(x, b0, c30);
      if (cols == 8) c31 = fma4(x, b1, c31);
    }
    pa += ka;
    pb += sb;
  }
  v128.store(pc, c00);
  if (cols == 8) v128.store(pc, c01, 16);
  if (rows == 4) {
    v128.store(pc + sc, c10);
    v128.store(pc + sc2, c20);
    v128.store(pc + sc3, c30);
    if (cols == 8) {
      v128.store(pc + sc, c11, 16);
      v128.store(pc + sc2, c21, 16);
      v128.store(pc + sc3, c31, 16);
    }
  }
}

/**
 * dst[d][i] = src[i][d]·mul for i < rows, and 0 for rows ≤ i < padded: a [rows][D] row-major
 * block (row stride D floats) transposed into [D][padded], so that a tile reads 8 consecutive
 * rows of the original as one B row.
 */
export function packTransposed(src: usize, D: i32, rows: i32, padded: i32, dst: usize, mul: f32): void {
  const rowBytes = <usize>D << 2;
  const dstRow = <usize>padded << 2;
  let i = 0;
  if ((D & 3) == 0) {
    // 4×4 blocks through registers: 4 row loads, 8 shuffles, 4 stores per 16 values
    const m = f32x4.splat(mul);
    for (; i + 4 <= rows; i += 4) {
      const s0 = src + <usize>i * rowBytes;
      const d0 = dst + (<usize>i << 2);
      for (let d = 0; d < D; d += 4) {
        const r0 = f32x4.mul(v128.load(s0 + (<usize>d << 2)), m);
        const r1 = f32x4.mul(v128.load(s0 + rowBytes + (<usize>d << 2)), m);
        const r2 = f32x4.mul(v128.load(s0 + 2 * rowBytes + (<usize>d << 2)), m);
        const r3 = f32x4.mul(v128.load(s0 + 3 * rowBytes + (<usize>d << 2)), m);
        const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
        const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
        const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
        const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
        const pd = d0 + <usize>d * dstRow;
        v128.store(pd, i64x2.shuffle(t0, t1, 0, 2));
        v128.store(pd + dstRow, i64x2.shuffle(t0, t1, 1, 3));
        v128.store(pd + 2 * dstRow, i64x2.shuffle(t2, t3, 0, 2));
        v128.store(pd + 3 * dstRow, i64x2.shuffle(t2, t3, 1, 3));
      }
    }
  }
  for (; i < rows; i++) {
    const s0 = src + <usize>i * rowBytes;
    for (let d = 0; d < D; d++) {
      store<f32>(dst + <usize>d * dstRow + (<usize>i << 2), load<f32>(s0 + (<usize>d << 2)) * mul);
    }
  }
  for (; i < padded; i++) {
    for (let d = 0; d < D; d++) store<f32>(dst + <usize>d * dstRow + (<usize>i << 2), 0);
  }
}

/** Sets `count` floats at p to `value`. */
export function fillF32(p: usize, count: i32, value: f32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= count; i += 4) v128.store(p + (<usize>i << 2), v);
  for (; i < count; i++) store<f32>(p + (<usize>i << 2), value);
}

/**
 * The yardstick of bench/cpu-attention.ts: C[M][N] = A[M][K]·B[K][N], repeated `reps` times,
 * with A packed as [M/4][K][4] and B as [N/8][K][8] so that the 4×8 tile's loads are all
 * consecutive (M a multiple of 4, N of 8). The best AssemblyScript matmul we could write: the
 * attention kernels are judged as a fraction of it. Deliberately not gemm.ts's tile4x8 (the
 * same loop): without its call and edge handling this reads higher (bench/results/README.md),
 * and a yardstick should be the highest we can reach.
 */
export function matmulCeiling(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, reps: i32): void {
  const rowBytes = <usize>N << 2;
  for (let rep = 0; rep < reps; rep++) {
    for (let m = 0; m + 4 <= M; m += 4) {
      for (let n = 0; n + 8 <= N; n += 8) {
        let pa = a + (<usize>(m * K) << 2);
        let pb = b + (<usize>(n * K) << 2);
        let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (let k = 0; k < K; k++) {
          const b0 = v128.load(pb), b1 = v128.load(pb, 16);
          let x = v128.load32_splat(pa);
          c00 = fma4(x, b0, c00); c01 = fma4(x, b1, c01);
          x = v128.load32_splat(pa, 4);
          c10 = fma4(x, b0, c10); c11 = fma4(x, b1, c11);
          x = v128.load32_splat(pa, 8);
          c20 = fma4(x, b0, c20); c21 = fma4(x, b1, c21);
          x = v128.load32_splat(pa, 12);
          c30 = fma4(x, b0, c30); c31 = fma4(x, b1, c31);
          pa += 16;
          pb += 32;
        }
        const pc = c + (<usize>(m * N + n) << 2);
        v128.store(pc, c00); v128.store(pc, c01, 16);
        v128.store(pc + rowBytes, c10); v128.store(pc + rowBytes, c11, 16);
        v128.store(pc + 2 * rowBytes, c20); v128.store(pc + 2 * rowBytes, c21, 16);
        v128.store(pc + 3 * rowBytes, c30); v128.store(pc + 3 * rowBytes, c31, 16);
      }
    }
  }
}

/**
 * The core's own ceiling for 128-bit SIMD with relaxed SIMD: `iters` rounds of 12 independent
 * fused multiply-add chains on registers only (no loads or stores; 12 chains cover the latency on
 * two FMA ports), 8·12·iters flops. matmulCeiling is judged against it: what the 4×8 tile's loads
 * cost. On the plain build each chain is a dependent mul + add, bound by latency, not a peak.
 * Returns a lane so that the chains are not optimised away.
 */
export function fmaPeak(iters: i32): f32 {
  const b = f32x4.splat(0.999999);
  const c = f32x4.splat(1e-7);
  let a0 = f32x4.splat(1.0), a1 = f32x4.splat(1.01), a2 = f32x4.splat(1.02), a3 = f32x4.splat(1.03);
  let a4 = f32x4.splat(1.04), a5 = f32x4.splat(1.05), a6 = f32x4.splat(1.06), a7 = f32x4.splat(1.07);
  let a8 = f32x4.splat(1.08), a9 = f32x4.splat(1.09), a10 = f32x4.splat(1.1), a11 = f32x4.splat(1.11);
  for (let i = 0; i < iters; i++) {
    a0 = fma4(a0, b, c); a1 = fma4(a1, b, c); a2 = fma4(a2, b, c); a3 = fma4(a3, b, c);
    a4 = fma4(a4, b, c); a5 = fma4(a5, b, c); a6 = fma4(a6, b, c); a7 = fma4(a7, b, c);
    a8 = fma4(a8, b, c); a9 = fma4(a9, b, c); a10 = fma4(a10, b, c); a11 = fma4(a11, b, c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}
