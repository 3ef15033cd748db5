// The selection suites' shared pieces (webgpu-select.test.ts, webgpu-kv-summaries.test.ts): the
// SelectBlocksProblem the engine builds from a call, and a layout checked against the float64
// reference (test/reference/select-blocks.ts), row by row.
import type { OperandData, SelectBlocksProblem } from '../../src/backend.ts';
import { referenceSelectBlocks, type RefSelectBlocksArgs } from '../reference/index.ts';

export type Args = RefSelectBlocksArgs & { q: { data: Float32Array; shape: number[] }; k: { data: Float32Array; shape: number[] } };

/**
 * The SelectBlocksProblem the engine builds from `args` after validation (qOffset defaulting to
 * keyLength − Nq, as the reference's).
 */
export function selectProblem(a: Args, q: OperandData = a.q.data, k: OperandData = a.k.data): SelectBlocksProblem {
  const [B, Hq, Nq, D] = a.q.shape;
  const [, Hkv, Nk] = a.k.shape;
  const keyLengths = Int32Array.from({ length: B }, (_, b) => (a.keyLengths ? a.keyLengths[b] : Nk));
  const o = a.qOffset;
  const qOffset = Int32Array.from({ length: B }, (_, b) => (o === undefined ? keyLengths[b] - Nq : typeof o === 'number' ? o : o[b]));
  const R = Math.ceil(Math.max(...Array.from(qOffset, (x) => x + Nq)) / a.block);
  return {
    q, k, kvStride: Nk, score: a.score ?? 'mean', B, Hq, Hkv, Nq, Nk, D, block: a.block, R, C: Math.ceil(Nk / a.block), qOffset, keyLengths,
    causal: a.causal ?? false, scale: a.scale ?? 1 / Math.sqrt(D), topK: a.topK ?? 0, threshold: a.threshold ?? 0,
    keepDiagonal: a.keep?.diagonal ?? false, keepFirst: a.keep?.first ?? 0, keepLocal: a.keep?.local ?? 0,
  };
}

/**
 * Checks got against the reference row by row; a row may differ only where the reference marks a
 * near tie (never, with `strict`). Returns the rows compared and those excused.
 */
export function check(got: Uint8Array, a: Args, label: string, strict = false): { rows: number; excused: number; kept: number } {
  const ref = referenceSelectBlocks(a);
  const [B, Hq, R, C] = ref.shape;
  if (got.length !== B * Hq * R * C) throw new Error(`${label}: ${got.length} bytes, expected [${ref.shape}]`);
  let excused = 0;
  let kept = 0;
  for (let row = 0; row < B * Hq * R; row++) {
    const at = row * C;
    let same = true;
    for (let c = 0; c < C; c++) {
      if (got[at + c] !== 0 && got[at + c] !== 1) throw new Error(`${label}: byte ${at + c} is ${got[at + c]}`);
      if (got[at + c] !== ref.data[at + c]) same = false;
      kept += got[at + c];
    }
    if (same) continue;
    if (!strict && ref.nearTie[row]) {
      excused++;
      continue;
    }
    const cols = (d: ArrayLike<number>) => Array.from({ length: C }, (_, c) => c).filter((c) => d[at + c]);
    const scores = Array.from(ref.scores.subarray(at, at + C), (x) => x.toFixed(5)).join(' ');
    const where = `b ${Math.floor(row / (Hq * R))}, h ${Math.floor(row / R) % Hq}, r ${row % R}`;
    throw new Error(`${label}: row (${where}) kept [${cols(got)}], the reference [${cols(ref.data)}]; scores ${scores}`);
  }
  return { rows: B * Hq * R, excused, kept };
}

