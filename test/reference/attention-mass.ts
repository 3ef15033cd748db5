// Float64 reference of engine.attentionMass (API.md "Content-based layouts"): per query row, the
// dense softmax over every key that causal and keyLengths allow (the layout ignored), summed over
// the keys the layout keeps: the row's block row (its absolute position / block) and each key's
// block column, read at layout head h % Hl of batch row b's layout.
import type { BatchedLayout, Layout } from '../../src/types.js';
import { referenceAttentionProbabilities } from './attention.js';
import type { RefTensor } from './types.js';

export interface RefAttentionMassArgs {
  q: RefTensor;
  k: RefTensor;
  layout: Layout | BatchedLayout;
  causal?: boolean;
  qOffset?: number | ArrayLike<number>;
  keyLengths?: ArrayLike<number>;
  scale?: number;
}

/** Float64Array [B, Hq, Nq]. */
export function referenceAttentionMass(args: RefAttentionMassArgs): Float64Array {
  const { q, k, layout } = args;
  const [B, H, Nq] = q.shape;
  const Nk = k.shape[2];
  const block = layout.block;
  const keyLength = (b: number) => (args.keyLengths ? args.keyLengths[b] : Nk);
  const o = args.qOffset;
  const qOffset = (b: number) => (o === undefined ? keyLength(b) - Nq : typeof o === 'number' ? o : o[b]);
  const R = Math.ceil((Math.max(...Array.from({ length: B }, (_, b) => qOffset(b))) + Nq) / block);
  const C = Math.ceil(Nk / block);
  const dense: Layout = { block, shape: [1, R, C], data: new Uint8Array(R * C).fill(1) };
  const P = referenceAttentionProbabilities({ ...args, v: k, layout: dense, qOffset: args.qOffset ?? undefined });
  const batched = layout.shape.length === 4;
  const [Hl, Rl, Cl] = batched ? layout.shape.slice(1) : layout.shape;
  const mass = new Float64Array(B * H * Nq);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = ((batched ? b * Hl : 0) + (h % Hl)) * Rl * Cl;
      for (let i = 0; i < Nq; i++) {
        const r = Math.floor((qOffset(b) + i) / block);
        const row = ((b * H + h) * Nq + i) * Nk;
        let sum = 0;
        for (let j = 0; j < Nk; j++) if (layout.data[base + r * Cl + Math.floor(j / block)]) sum += P[row + j];
        mass[(b * H + h) * Nq + i] = sum;
      }
    }
  }
  return mass;
}
