// The score modifiers of API.md, shared by attention and softmax: for a row i of head h in batch b,
// at absolute position p = qOffset(b) + i, bias[j] = rpe + kpm + am, or −∞ where j is outside the
// layout (read at layout head h % Hl of batch row b's layout, block row floor(p / block): a larger
// layout is cropped), past
// keyLengths[b], or (causal) j > p.
import type { BatchedLayout, Layout } from '../../src/types.js';
import type { RefMaskArgs, RefTensor } from './types.js';

export interface ScoreDims {
  B: number;
  H: number;
  /** Rows (query rows). */
  M: number;
  /** Columns (keys). */
  N: number;
}

/** Where rows and keys sit (attention beyond self-attention); softmax leaves it out. */
export interface ScorePositions {
  /** Absolute position of row 0, per batch row. */
  qOffset: (b: number) => number;
  /** Keys of batch row b: 0 … keyLength(b) − 1. */
  keyLength: (b: number) => number;
}

/** A mask value as an additive term: 'mul' turns 0 into −∞ and anything else into 0; 'add' adds it. */
export function maskTerm(value: number, mode: 'add' | 'mul'): number {
  if (mode === 'mul') return value === 0 ? -Infinity : 0;
  return value;
}

function checkShape(name: string, t: RefTensor | undefined, expected: number[]): void {
  if (!t) return;
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new RangeError(`${name}.shape is [${t.shape}], expected [${expected}]`);
  }
  const n = expected.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new RangeError(`${name}.data has ${t.data.length} values, expected ${n}`);
}

/** Validates the masks against the dims and returns a function filling the bias row of (b, h, i). */
export function makeBiasRow(
  masks: RefMaskArgs,
  layout: Layout | BatchedLayout,
  dims: ScoreDims,
  at: ScorePositions = { qOffset: () => 0, keyLength: () => dims.N },
): (b: number, h: number, i: number, out: Float64Array) => void {
  const { B, H, M, N } = dims;
  // [Hl, R, C], or [B, Hl, R, C]: one layout per batch row
  const shape = layout.shape as readonly number[];
  const [LB, LH, R, C] = shape.length === 4 ? shape : [1, ...shape];
  if (shape.length === 4 && LB !== B) throw new RangeError(`layout.shape[0] (${LB}) is not B (${B})`);
  const blk = layout.block;
  for (let b = 0; b < B; b++) {
    if (H % LH !== 0 || R * blk < at.qOffset(b) + M || C * blk < N) {
      throw new RangeError(`layout.shape [${layout.shape}] with block ${blk} does not cover H=${H}, rows ${at.qOffset(b)}…${at.qOffset(b) + M - 1}, ${N} keys`);
    }
  }
  if (layout.data.length !== LB * LH * R * C) throw new RangeError(`layout.data has ${layout.data.length} entries`);
  checkShape('rpe', masks.rpe, [B, H, M, N]);
  checkShape('keyPaddingMask', masks.keyPaddingMask, [B, N]);
  checkShape('attnMask', masks.attnMask, [M, N]);
  const kpmMode = masks.keyPaddingMaskMode ?? 'add';
  const amMode = masks.attnMaskMode ?? 'mul';
  const { rpe, keyPaddingMask: kpm, attnMask: am, causal } = masks;

  return (b, h, i, out) => {
    const p = at.qOffset(b) + i;
    const r = Math.floor(p / blk);
    const keys = at.keyLength(b);
    for (let j = 0; j < N; j++) {
      const kept = layout.data[(((b % LB) * LH + (h % LH)) * R + r) * C + Math.floor(j / blk)] !== 0 && !(causal && j > p) && j < keys;
      if (!kept) {
        out[j] = -Infinity;
        continue;
      }
      let s = 0;
      if (rpe) s += rpe.data[((b * H + h) * M + i) * N + j];
      if (kpm) s += maskTerm(kpm.data[b * N + j], kpmMode);
      if (am) s += maskTerm(am.data[i * N + j], amMode);
      out[j] = s;
    }
  };
}

/**
 * In-place softmax of row[0..n): exp(s - max) / sum. A row whose every entry is −∞ becomes zeros.
 */
export function softmaxRow(row: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) if (row[j] > max) max = row[j];
  if (max === -Infinity) {
    row.fill(0);
    return;
  }
  let sum = 0;
  for (let j = 0; j < row.length; j++) {
    const e = row[j] === -Infinity ? 0 : Math.exp(row[j] - max);
    row[j] = e;
    sum += e;
  }
  for (let j = 0; j < row.length; j++) row[j] /= sum;
}
