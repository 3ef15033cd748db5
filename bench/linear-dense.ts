// The plain-TypeScript baseline of bench/linear.ts: a dense f32 linear layer on one thread,
// cache-blocked, with no Wasm and no SIMD, as an application would write it without this library
// (no dense matmul package sits in node_modules to compare with instead).
//
// Every product is C = A·Bᵀ with both operands row-major along k (matmulNT): each 4×4 register tile
// of C reads four rows of A and four of B contiguously, over k chunks of KC that stay in L1/L2.

const KC = 256;
const NC = 64; // rows of B (columns of C) whose k chunk is reused across all rows of A

/** C [M, N] = A [M, K] · B [N, K]ᵀ, f32 storage, f64 arithmetic in registers. */
export function matmulNT(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float32Array {
  const c = new Float32Array(M * N);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const k1 = Math.min(K, k0 + KC);
    for (let n0 = 0; n0 < N; n0 += NC) {
      const n1 = Math.min(N, n0 + NC);
      let m = 0;
      for (; m + 4 <= M; m += 4) {
        const a0 = m * K;
        const a1 = a0 + K;
        const a2 = a1 + K;
        const a3 = a2 + K;
        let n = n0;
        for (; n + 4 <= n1; n += 4) {
          const b0 = n * K;
          const b1 = b0 + K;
          const b2 = b1 + K;
          const b3 = b2 + K;
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let k = k0; k < k1; k++) {
            const x0 = a[a0 + k], x1 = a[a1 + k], x2 = a[a2 + k], x3 = a[a3 + k];
            const y0 = b[b0 + k], y1 = b[b1 + k], y2 = b[b2 + k], y3 = b[b3 + k];
            c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
            c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
            c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
            c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
          }
          const o0 = m * N + n;
          const o1 = o0 + N;
          const o2 = o1 + N;
          const o3 = o2 + N;
          c[o0] += c00; c[o0 + 1] += c01; c[o0 + 2] += c02; c[o0 + 3] += c03;
          c[o1] += c10; c[o1 + 1] += c11; c[o1 + 2] += c12; c[o1 + 3] += c13;
          c[o2] += c20; c[o2 + 1] += c21; c[o2 + 2] += c22; c[o2 + 3] += c23;
          c[o3] += c30; c[o3 + 1] += c31; c[o3 + 2] += c32; c[o3 + 3] += c33;
        }
        for (; n < n1; n++) edge(a, b, c, m, m + 4, n, N, K, k0, k1);
      }
      for (let n = n0; n < n1; n++) edge(a, b, c, m, M, n, N, K, k0, k1);
    }
  }
  return c;
}

function edge(a: Float32Array, b: Float32Array, c: Float32Array, m0: number, m1: number, n: number, N: number, K: number, k0: number, k1: number): void {
  for (let m = m0; m < m1; m++) {
    let s = 0;
    for (let k = k0; k < k1; k++) s += a[m * K + k] * b[n * K + k];
    c[m * N + n] += s;
  }
}

/** [R, C] → [C, R]. */
export function transpose(x: Float32Array, R: number, C: number): Float32Array {
  const t = new Float32Array(R * C);
  const T = 32;
  for (let r0 = 0; r0 < R; r0 += T) {
    for (let c0 = 0; c0 < C; c0 += T) {
      for (let r = r0; r < Math.min(R, r0 + T); r++) for (let c = c0; c < Math.min(C, c0 + T); c++) t[c * R + r] = x[r * C + c];
    }
  }
  return t;
}

/** y [rows, out] = x [rows, in] · W [out, in]ᵀ + b. */
export function denseLinearForward(x: Float32Array, w: Float32Array, b: Float32Array | null, rows: number, inF: number, out: number): Float32Array {
  const y = matmulNT(x, w, rows, out, inF);
  if (b) for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) y[r * out + o] += b[o];
  return y;
}

/** dx = dy·W, dW = dyᵀ·x (dense), db = Σrows dy. */
export function denseLinearBackward(x: Float32Array, w: Float32Array, dy: Float32Array, rows: number, inF: number, out: number) {
  const dx = matmulNT(dy, transpose(w, out, inF), rows, inF, out);
  const dW = matmulNT(transpose(dy, rows, out), transpose(x, rows, inF), out, inF, rows);
  const db = new Float32Array(out);
  for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) db[o] += dy[r * out + o];
  return { dx, dW, db };
}
