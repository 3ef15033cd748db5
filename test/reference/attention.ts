// Float64 dense reference of block-sparse attention (API.md):
//   s = q·kᵀ·scale + rpe + kpm + am, −∞ outside the layout and (causal) above the diagonal,
//   p = softmax(s) per row (an all −∞ row gives zeros), out = p·v.
import { makeBiasRow, softmaxRow } from './scores.js';
import type { RefAttentionArgs, RefAttentionBackwardArgs, RefTensor } from './types.js';

interface Dims {
  B: number;
  H: number;
  N: number;
  D: number;
  scale: number;
}

function dimsOf(args: RefAttentionArgs): Dims {
  const { q } = args;
  if (q.shape.length !== 4) throw new RangeError(`q.shape is [${q.shape}], expected [B, H, N, D]`);
  const [B, H, N, D] = q.shape;
  for (const [name, t] of [['q', args.q], ['k', args.k], ['v', args.v]] as [string, RefTensor][]) {
    if (t.shape.length !== 4 || t.shape.some((d, i) => d !== q.shape[i])) {
      throw new RangeError(`${name}.shape is [${t.shape}], expected [${q.shape}]`);
    }
    if (t.data.length !== B * H * N * D) throw new RangeError(`${name}.data has ${t.data.length} values`);
  }
  const scale = args.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeError(`scale is ${scale}, expected a finite number`);
  return { B, H, N, D, scale };
}

/** The dense attention probabilities P, Float64Array [B, H, N, N] (zeros where masked). */
export function referenceAttentionProbabilities(args: RefAttentionArgs): Float64Array {
  const { B, H, N, D, scale } = dimsOf(args);
  const bias = makeBiasRow(args, args.layout, { B, H, M: N, N });
  const q = args.q.data;
  const k = args.k.data;
  const P = new Float64Array(B * H * N * N);
  const row = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = (b * H + h) * N;
      for (let i = 0; i < N; i++) {
        bias(b, h, i, row);
        const qi = (bh + i) * D;
        for (let j = 0; j < N; j++) {
          if (row[j] === -Infinity) continue;
          const kj = (bh + j) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj + d];
          row[j] = dot * scale + row[j];
        }
        softmaxRow(row);
        P.set(row, (bh + i) * N);
      }
    }
  }
  return P;
}

/** out = P·v, Float64Array [B, H, N, D]. */
export function referenceAttention(args: RefAttentionArgs): Float64Array {
  const { B, H, N, D } = dimsOf(args);
  const P = referenceAttentionProbabilities(args);
  const v = args.v.data;
  const out = new Float64Array(B * H * N * D);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < N; i++) {
      const o = (bh * N + i) * D;
      for (let j = 0; j < N; j++) {
        const p = P[(bh * N + i) * N + j];
        if (p === 0) continue;
        const vj = (bh * N + j) * D;
        for (let d = 0; d < D; d++) out[o + d] += p * v[vj + d];
      }
    }
  }
  return out;
}

/**
 * Gradients of Σ out∘dout with respect to q, k, v (Float64Array [B, H, N, D] each):
 *   dv = Pᵀ·dout, dP = dout·vᵀ, dS = P∘(dP − rowsum(P∘dP)), dq = dS·k·scale, dk = dSᵀ·q·scale.
 */
export function referenceAttentionBackward(args: RefAttentionBackwardArgs): {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
} {
  const { B, H, N, D, scale } = dimsOf(args);
  const { dout } = args;
  if (dout.shape.length !== 4 || dout.shape.some((d, i) => d !== args.q.shape[i]) || dout.data.length !== B * H * N * D) {
    throw new RangeError(`dout.shape is [${dout.shape}], expected [${args.q.shape}]`);
  }
  const P = referenceAttentionProbabilities(args);
  const q = args.q.data;
  const k = args.k.data;
  const v = args.v.data;
  const g = dout.data;
  const dq = new Float64Array(B * H * N * D);
  const dk = new Float64Array(B * H * N * D);
  const dv = new Float64Array(B * H * N * D);
  const dS = new Float64Array(N);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < N; i++) {
      const gi = (bh * N + i) * D;
      const pRow = (bh * N + i) * N;
      let rowsum = 0;
      for (let j = 0; j < N; j++) {
        const p = P[pRow + j];
        dS[j] = 0;
        if (p === 0) continue;
        const vj = (bh * N + j) * D;
        let dp = 0;
        for (let d = 0; d < D; d++) {
          dp += g[gi + d] * v[vj + d];
          dv[vj + d] += p * g[gi + d];
        }
        dS[j] = dp;
        rowsum += p * dp;
      }
      for (let j = 0; j < N; j++) {
        const p = P[pRow + j];
        if (p === 0) continue;
        const ds = p * (dS[j] - rowsum) * scale;
        const kj = (bh * N + j) * D;
        for (let d = 0; d < D; d++) {
          dq[gi + d] += ds * k[kj + d];
          dk[kj + d] += ds * q[gi + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}
