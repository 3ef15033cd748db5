// Float64 reference of content-based block selection (API.md "Content-based layouts"; src/backend.ts
// SelectBlocksProblem states the same rules). q [B, Hq, Nq, D] at absolute positions qOffset(b) + i,
// k [B, Hkv, Nk, D] at positions j; blocks of `block` positions.
// - qp[b,h,r]: the mean of q's rows whose absolute position falls in block row r (rows holding none
//   are empty); kp[b,g,c]: the mean of the valid keys (j < keyLength(b)) of block column c.
// - s[b,h,r,c] = qp · kp(kv head floor(h / (Hq / Hkv))) · scale (score 'mean'), or with score
//   'bound' scale · Σ_d max(qp_d · kmin_d, qp_d · kmax_d) over the block's elementwise min and max of
//   its valid keys (key-summaries.ts): Quest's upper bound, for one query row ≥ every q·k·scale of
//   the block; c is allowed when some key of it is valid (c·block < keyLength(b)) and, with causal, c ≤ r.
// - topK: the topK highest allowed s (all of them when fewer), ties to the lower c. threshold τ: the
//   allowed blocks in that order (s descending, ties to the lower c), the fewest whose summed
//   e^(s − max) reaches τ · Z, Z that same sum over every allowed block; τ = 1 keeps them all (every
//   block holds some mass, however little rounding leaves of it).
// - keep: the diagonal c = r, the first `first` columns, the `local` columns r − local … r − 1, each
//   where allowed; added to the selection. Rows holding no query stay empty.
import { referenceKeySummaries } from './key-summaries.js';
import type { RefTensor } from './types.js';

export interface RefSelectBlocksArgs {
  q: RefTensor;
  k: RefTensor;
  block: number;
  topK?: number;
  threshold?: number;
  causal?: boolean;
  /** One number or one per batch row; default keyLength(b) − Nq (each row's last positions), as attention's. */
  qOffset?: number | ArrayLike<number>;
  /** [B], default Nk each. */
  keyLengths?: ArrayLike<number>;
  /** Default 1 / sqrt(D). */
  scale?: number;
  keep?: { diagonal?: boolean; first?: number; local?: number };
  /** Default 'mean'. */
  score?: 'mean' | 'bound';
}

export interface RefSelection {
  /** [B, Hq, R, C]: R = ceil((max qOffset + Nq) / block), C = ceil(Nk / block). */
  shape: [number, number, number, number];
  /** 1 where the block is kept. */
  data: Uint8Array;
  /** The pooled (or bound) scores s, −∞ where the block is not allowed or the row holds no query. */
  scores: Float64Array;
  /**
   * [B, Hq, R]: 1 where a float32 implementation may fairly choose otherwise: the scores either
   * side of the cut differ by at most NEAR_TIE times the row's largest |s| (float32 errors scale
   * with the row's magnitudes, not with a score near 0), or (threshold) the mass before or at the
   * cut is within NEAR_TIE relative of τ · Z.
   */
  nearTie: Uint8Array;
}

/** Relative closeness at the cut under which a row counts as a near tie (RefSelection.nearTie). */
export const NEAR_TIE = 1e-5;

const near = (a: number, b: number, floor = 0) => Math.abs(a - b) <= NEAR_TIE * Math.max(Math.abs(a), Math.abs(b), floor);

/** Sorts allowed columns: s descending, ties to the lower c. */
function byScore(s: Float64Array, at: number): (a: number, b: number) => number {
  return (a, b) => s[at + b] - s[at + a] || a - b;
}

export function referenceSelectBlocks(args: RefSelectBlocksArgs): RefSelection {
  const { q, k, block } = args;
  const [B, Hq, Nq, D] = q.shape;
  const [, Hkv, Nk] = k.shape;
  if (Hq % Hkv !== 0) throw new RangeError(`k.shape[1] (${Hkv}) does not divide q.shape[1] (${Hq})`);
  if ((args.topK === undefined) === (args.threshold === undefined)) throw new RangeError('give exactly one of topK and threshold');
  const scale = args.scale ?? 1 / Math.sqrt(D);
  const keyLength = (b: number) => (args.keyLengths ? args.keyLengths[b] : Nk);
  const o = args.qOffset;
  const qOffset = (b: number) => (o === undefined ? keyLength(b) - Nq : typeof o === 'number' ? o : o[b]);
  let last = 0;
  for (let b = 0; b < B; b++) last = Math.max(last, qOffset(b) + Nq);
  const R = Math.ceil(last / block);
  const C = Math.ceil(Nk / block);
  const group = Hq / Hkv;
  const keep = args.keep ?? {};
  const data = new Uint8Array(B * Hq * R * C);
  const scores = new Float64Array(B * Hq * R * C).fill(-Infinity);
  const nearTie = new Uint8Array(B * Hq * R);
  const qp = new Float64Array(D);
  const sums = referenceKeySummaries(k, block, Array.from({ length: B }, (_, b) => keyLength(b)));
  const bound = args.score === 'bound';
  for (let b = 0; b < B; b++) {
    const kl = keyLength(b);
    const off = qOffset(b);
    for (let h = 0; h < Hq; h++) {
      // the key blocks of the kv head h reads
      const kBase = (b * Hkv + Math.floor(h / group)) * C * D;
      for (let r = 0; r < R; r++) {
        const first = Math.max(r * block - off, 0);
        const end = Math.min((r + 1) * block - off, Nq);
        if (end <= first) continue; // no query in this block row
        qp.fill(0);
        const qRow = (b * Hq + h) * Nq;
        for (let i = first; i < end; i++) for (let d = 0; d < D; d++) qp[d] += q.data[(qRow + i) * D + d];
        for (let d = 0; d < D; d++) qp[d] /= end - first;
        const at = ((b * Hq + h) * R + r) * C;
        const allowed: number[] = [];
        for (let c = 0; c < C; c++) {
          if (c * block >= kl || (args.causal && c > r)) continue;
          let dot = 0;
          const o = kBase + c * D;
          if (bound) for (let d = 0; d < D; d++) dot += Math.max(qp[d] * sums.min[o + d], qp[d] * sums.max[o + d]);
          else for (let d = 0; d < D; d++) dot += qp[d] * sums.mean[o + d];
          scores[at + c] = dot * scale;
          allowed.push(c);
        }
        allowed.sort(byScore(scores, at));
        let n = allowed.length;
        if (args.topK !== undefined) {
          n = Math.min(args.topK, n);
        } else if (n > 0 && args.threshold! < 1) {
          const max = scores[at + allowed[0]];
          const e = allowed.map((c) => Math.exp(scores[at + c] - max));
          const goal = args.threshold! * e.reduce((x, y) => x + y, 0);
          let sum = 0;
          for (n = 0; n < e.length && sum < goal; n++) sum += e[n];
          if (near(sum, goal) || near(sum - e[n - 1], goal)) nearTie[(b * Hq + h) * R + r] = 1;
        }
        const largest = allowed.reduce((m, c) => Math.max(m, Math.abs(scores[at + c])), 0);
        if (n > 0 && n < allowed.length && near(scores[at + allowed[n - 1]], scores[at + allowed[n]], largest)) nearTie[(b * Hq + h) * R + r] = 1;
        for (let i = 0; i < n; i++) data[at + allowed[i]] = 1;
        const isAllowed = (c: number) => c >= 0 && c < C && scores[at + c] !== -Infinity;
        if (keep.diagonal && isAllowed(r)) data[at + r] = 1;
        for (let c = 0; c < (keep.first ?? 0); c++) if (isAllowed(c)) data[at + c] = 1;
        for (let c = r - (keep.local ?? 0); c < r; c++) if (isAllowed(c)) data[at + c] = 1;
      }
    }
  }
  return { shape: [B, Hq, R, C], data, scores, nearTie };
}
