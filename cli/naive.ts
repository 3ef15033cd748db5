// The naive baseline of the bench app (naive-baseline.ts) and bench/cpu-attention.ts: block-sparse
// attention in plain TypeScript over f32 arrays, straightforward loops over the kept blocks (no
// SIMD, no tiling), softmax in three passes per query row. Same normalised problem as the
// kernels (src/backend.ts).
import type { AttentionBackwardProblem, AttentionProblem } from '../src/backend.js';

/** The kept key blocks of block row r of head h (causal: those on or below the diagonal). */
function keptColumns(p: AttentionProblem, h: number, r: number): number[] {
  const L = p.layout;
  const i = L.slotOf(0, h) * L.rows + r;
  // a row visits a prefix of its entries (src/layouts/causal-tables.ts)
  return Array.from(L.kvIndices.subarray(L.kvPtr[i], L.kvPtr[i] + L.causalTables(p.causal).rowKept[i]));
}

/** Scores of query row i against the kept keys, masks applied, into s (length cols·block). */
function scoreRow(p: AttentionProblem, bh: number, i: number, cols: number[], s: Float32Array): void {
  const { H, N, D, q, k, scale, rpe, keyPadding, attnMask, causal } = p;
  const block = p.layout.block;
  const b = Math.floor(bh / H);
  const qi = (bh * N + i) * D;
  let t = 0;
  for (const c of cols) {
    for (let j = c * block; j < (c + 1) * block; j++) {
      const kj = (bh * N + j) * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj + d];
      let x = dot * scale;
      if (rpe) x += rpe[(bh * N + i) * N + j];
      if (keyPadding) x += keyPadding[b * N + j];
      if (attnMask) x += attnMask[i * N + j];
      if (causal && j > i) x = -Infinity;
      s[t++] = x;
    }
  }
}

function softmaxInPlace(s: Float32Array, n: number): void {
  let max = -Infinity;
  for (let t = 0; t < n; t++) if (s[t] > max) max = s[t];
  if (max === -Infinity) {
    s.fill(0, 0, n);
    return;
  }
  let sum = 0;
  for (let t = 0; t < n; t++) {
    s[t] = Math.exp(s[t] - max);
    sum += s[t];
  }
  for (let t = 0; t < n; t++) s[t] /= sum;
}

export function naiveAttention(p: AttentionProblem): Float32Array {
  const { B, H, N, D, v } = p;
  const block = p.layout.block;
  const R = N / block;
  const out = new Float32Array(B * H * N * D);
  const s = new Float32Array(N);
  for (let bh = 0; bh < B * H; bh++) {
    for (let r = 0; r < R; r++) {
      const cols = keptColumns(p, bh % H, r);
      for (let i = r * block; i < (r + 1) * block; i++) {
        scoreRow(p, bh, i, cols, s);
        softmaxInPlace(s, cols.length * block);
        const o = (bh * N + i) * D;
        let t = 0;
        for (const c of cols) {
          for (let j = c * block; j < (c + 1) * block; j++) {
            const pj = s[t++];
            const vj = (bh * N + j) * D;
            for (let d = 0; d < D; d++) out[o + d] += pj * v[vj + d];
          }
        }
      }
    }
  }
  return out;
}

/** dv = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP)), dq = dS·K·scale, dk = dSᵀ·Q·scale. */
export function naiveAttentionBackward(p: AttentionBackwardProblem): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { B, H, N, D, q, k, v, dout, scale } = p;
  const block = p.layout.block;
  const R = N / block;
  const dq = new Float32Array(B * H * N * D);
  const dk = new Float32Array(B * H * N * D);
  const dv = new Float32Array(B * H * N * D);
  const s = new Float32Array(N);
  const dp = new Float32Array(N);
  for (let bh = 0; bh < B * H; bh++) {
    for (let r = 0; r < R; r++) {
      const cols = keptColumns(p, bh % H, r);
      for (let i = r * block; i < (r + 1) * block; i++) {
        scoreRow(p, bh, i, cols, s);
        softmaxInPlace(s, cols.length * block);
        const gi = (bh * N + i) * D;
        let t = 0;
        let rowsum = 0;
        for (const c of cols) {
          for (let j = c * block; j < (c + 1) * block; j++, t++) {
            const vj = (bh * N + j) * D;
            let x = 0;
            for (let d = 0; d < D; d++) {
              x += dout[gi + d] * v[vj + d];
              dv[vj + d] += s[t] * dout[gi + d];
            }
            dp[t] = x;
            rowsum += s[t] * x;
          }
        }
        t = 0;
        for (const c of cols) {
          for (let j = c * block; j < (c + 1) * block; j++, t++) {
            const ds = s[t] * (dp[t] - rowsum) * scale;
            const kj = (bh * N + j) * D;
            for (let d = 0; d < D; d++) {
              dq[gi + d] += ds * k[kj + d];
              dk[kj + d] += ds * q[gi + d];
            }
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
