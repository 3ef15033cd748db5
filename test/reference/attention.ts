// Float64 dense reference of block-sparse attention (API.md):
//   s = q·kᵀ·scale + rpe + kpm + am, −∞ outside the layout and (causal) above the diagonal,
//   p = softmax(s) per row (an all −∞ row gives zeros), out = p·v, lse = ln Σ_j e^s (−∞ for an
//   all −∞ row). q [B, H, Nq, D]; k, v [B, Hkv, Nk, D], Hkv dividing H: query head h reads kv head
//   floor(h / (H / Hkv)) (GQA, MQA), and dk, dv sum over the heads that share one. Query head h
//   reads layout head h % Hl; a layout larger than the sequence is read top-left; keys past
//   keyLengths[b] are masked; row i sits at absolute position qOffset(b) + i (default keyLengths[b]
//   − Nq, or Nk − Nq), key j at j; causal keeps j ≤ qOffset(b) + i. Nq and Nk need not be
//   multiples of the block (the last block row or column is partial).
import { makeBiasRow, softmaxRow, type ScorePositions } from './scores.js';
import type { RefAttentionArgs, RefAttentionBackwardArgs, RefTensor } from './types.js';

interface Dims {
  B: number;
  H: number;
  Hkv: number;
  /** Query rows. */
  Nq: number;
  /** Keys. */
  Nk: number;
  D: number;
  scale: number;
}

function dimsOf(args: RefAttentionArgs): Dims {
  const { q } = args;
  if (q.shape.length !== 4) throw new RangeError(`q.shape is [${q.shape}], expected [B, H, Nq, D]`);
  const [B, H, Nq, D] = q.shape;
  if (args.k.shape.length !== 4) throw new RangeError(`k.shape is [${args.k.shape}], expected [B, Hkv, Nk, D]`);
  const [, Hkv, Nk] = args.k.shape;
  if (H % Hkv !== 0) throw new RangeError(`k.shape[1] (${Hkv}) does not divide q.shape[1] (${H})`);
  for (const [name, t, heads, n] of [['q', args.q, H, Nq], ['k', args.k, Hkv, Nk], ['v', args.v, Hkv, Nk]] as [string, RefTensor, number, number][]) {
    const want = [B, heads, n, D];
    if (t.shape.length !== 4 || t.shape.some((d, i) => d !== want[i])) {
      throw new RangeError(`${name}.shape is [${t.shape}], expected [${want}]`);
    }
    if (t.data.length !== B * heads * n * D) throw new RangeError(`${name}.data has ${t.data.length} values`);
  }
  const scale = args.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeError(`scale is ${scale}, expected a finite number`);
  return { B, H, Hkv, Nq, Nk, D, scale };
}

/** API.md's positions: keyLengths (default all Nk keys) and qOffset (default each row's last Nq positions). */
function positions(args: RefAttentionArgs, d: Dims): ScorePositions {
  const keyLength = (b: number) => (args.keyLengths ? args.keyLengths[b] : d.Nk);
  const o = args.qOffset;
  const qOffset = o === undefined ? (b: number) => keyLength(b) - d.Nq : typeof o === 'number' ? () => o : (b: number) => o[b];
  for (let b = 0; b < d.B; b++) if (qOffset(b) < 0) throw new RangeError(`qOffset of batch row ${b} is ${qOffset(b)}, below 0`);
  return { keyLength, qOffset };
}

/** First key row of the kv head query batch·head b·H + h reads, in k and v. */
function kvRow(d: Dims, b: number, h: number): number {
  return (b * d.Hkv + Math.floor(h / (d.H / d.Hkv))) * d.Nk;
}

/**
 * The scores s of every row, Float64Array [B, H, Nq, Nk] (−∞ where masked), and each row's
 * log-sum-exp, Float64Array [B, H, Nq].
 */
function referenceScores(args: RefAttentionArgs): { S: Float64Array; lse: Float64Array } {
  const dims = dimsOf(args);
  const { B, H, Nq, Nk, D, scale } = dims;
  const bias = makeBiasRow(args, args.layout, { B, H, M: Nq, N: Nk }, positions(args, dims));
  const q = args.q.data;
  const k = args.k.data;
  const S = new Float64Array(B * H * Nq * Nk);
  const lse = new Float64Array(B * H * Nq);
  const row = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = (b * H + h) * Nq;
      const kv = kvRow(dims, b, h);
      for (let i = 0; i < Nq; i++) {
        bias(b, h, i, row);
        const qi = (bh + i) * D;
        let max = -Infinity;
        for (let j = 0; j < Nk; j++) {
          if (row[j] === -Infinity) continue;
          const kj = (kv + j) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj + d];
          row[j] = dot * scale + row[j];
          if (row[j] > max) max = row[j];
        }
        let sum = 0;
        if (max !== -Infinity) for (let j = 0; j < Nk; j++) if (row[j] !== -Infinity) sum += Math.exp(row[j] - max);
        lse[bh + i] = max === -Infinity ? -Infinity : max + Math.log(sum);
        S.set(row, (bh + i) * Nk);
      }
    }
  }
  return { S, lse };
}

/** ln Σ_j e^{s_ij} per row, Float64Array [B, H, Nq]; −∞ for a row with nothing left (returnLse). */
export function referenceLse(args: RefAttentionArgs): Float64Array {
  return referenceScores(args).lse;
}

/** The dense attention probabilities P, Float64Array [B, H, Nq, Nk] (zeros where masked). */
export function referenceAttentionProbabilities(args: RefAttentionArgs): Float64Array {
  const { Nk } = dimsOf(args);
  const { S } = referenceScores(args);
  const row = new Float64Array(Nk);
  for (let i = 0; i < S.length; i += Nk) {
    row.set(S.subarray(i, i + Nk));
    softmaxRow(row);
    S.set(row, i);
  }
  return S;
}

/** out = P·v, Float64Array [B, H, Nq, D]. */
export function referenceAttention(args: RefAttentionArgs): Float64Array {
  const dims = dimsOf(args);
  const { B, H, Nq, Nk, D } = dims;
  const P = referenceAttentionProbabilities(args);
  const v = args.v.data;
  const out = new Float64Array(B * H * Nq * D);
  for (let bh = 0; bh < B * H; bh++) {
    const kv = kvRow(dims, Math.floor(bh / H), bh % H);
    for (let i = 0; i < Nq; i++) {
      const o = (bh * Nq + i) * D;
      for (let j = 0; j < Nk; j++) {
        const p = P[(bh * Nq + i) * Nk + j];
        if (p === 0) continue;
        const vj = (kv + j) * D;
        for (let d = 0; d < D; d++) out[o + d] += p * v[vj + d];
      }
    }
  }
  return out;
}

/**
 * Gradients of Σ out∘dout with respect to q, k, v (Float64Array dq [B, H, Nq, D], dk, dv
 * [B, Hkv, Nk, D], summed over the query heads of a kv head):
 *   dv = Pᵀ·dout, dP = dout·vᵀ, dS = P∘(dP − rowsum(P∘dP)), dq = dS·k·scale, dk = dSᵀ·q·scale.
 */
export function referenceAttentionBackward(args: RefAttentionBackwardArgs): {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
} {
  const dims = dimsOf(args);
  const { B, H, Hkv, Nq, Nk, D, scale } = dims;
  const { dout } = args;
  if (dout.shape.length !== 4 || dout.shape.some((d, i) => d !== args.q.shape[i]) || dout.data.length !== B * H * Nq * D) {
    throw new RangeError(`dout.shape is [${dout.shape}], expected [${args.q.shape}]`);
  }
  const P = referenceAttentionProbabilities(args);
  const q = args.q.data;
  const k = args.k.data;
  const v = args.v.data;
  const g = dout.data;
  const dq = new Float64Array(B * H * Nq * D);
  const dk = new Float64Array(B * Hkv * Nk * D);
  const dv = new Float64Array(B * Hkv * Nk * D);
  const dS = new Float64Array(Nk);
  for (let bh = 0; bh < B * H; bh++) {
    const kv = kvRow(dims, Math.floor(bh / H), bh % H);
    for (let i = 0; i < Nq; i++) {
      const gi = (bh * Nq + i) * D;
      const pRow = (bh * Nq + i) * Nk;
      let rowsum = 0;
      for (let j = 0; j < Nk; j++) {
        const p = P[pRow + j];
        dS[j] = 0;
        if (p === 0) continue;
        const vj = (kv + j) * D;
        let dp = 0;
        for (let d = 0; d < D; d++) {
          dp += g[gi + d] * v[vj + d];
          dv[vj + d] += p * g[gi + d];
        }
        dS[j] = dp;
        rowsum += p * dp;
      }
      for (let j = 0; j < Nk; j++) {
        const p = P[pRow + j];
        if (p === 0) continue;
        const ds = p * (dS[j] - rowsum) * scale;
        const kj = (kv + j) * D;
        for (let d = 0; d < D; d++) {
          dq[gi + d] += ds * k[kj + d];
          dk[kj + d] += ds * q[gi + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}
