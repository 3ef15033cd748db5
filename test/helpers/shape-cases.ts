// The drawn shapes of attention beyond self-attention, shared by the property tests of both
// backends (test/cpu-shapes.test.ts, test/deno/webgpu-shapes.test.ts): Nq, Nk, qOffset (given, per
// batch row, or the default), partial last blocks, ragged keyLengths, GQA ratios, cyclic and
// per-batch-row layouts, causal and masks, as op-table cases (their inputs drawn as the op suite draws them).
import fc from 'fast-check';
import type { AttentionCase } from '../ops/cases.js';

export interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  /** Layout heads: 1 (shared by all heads) or H. */
  sharedLayoutHead: boolean;
  block: number;
  Nq: number;
  /** Keys beyond Nq (Nk = Nq + extraKeys). */
  extraKeys: number;
  /** 'default': keyLengths[b] − Nq (or Nk − Nq); 'one': a given number; 'rows': one per batch row. */
  offset: 'default' | 'one' | 'rows';
  offsets: number[];
  ragged: boolean;
  lengths: number[];
  batchedLayout: boolean;
  D: number;
  causal: boolean;
  rpe: boolean;
  kpm: 'none' | 'add' | 'mul';
  am: 'none' | 'add' | 'mul';
  density: number;
  seed: number;
}

/** The drawn case as an op-table case (its inputs drawn as the op suite draws them). */
/** `layoutExtra`: block rows and columns the layout has beyond the call's (read top-left). */
export function caseOf(d: Drawn, layoutExtra = 0): AttentionCase {
  const H = d.Hkv * d.ratio;
  const Nk = d.Nq + d.extraKeys;
  // ragged rows keep at least Nq keys, so that the default offset keyLengths[b] − Nq is not negative
  const keyLengths = d.ragged ? d.lengths.slice(0, d.B).map((f) => d.Nq + Math.floor(f * (d.extraKeys + 1))) : undefined;
  const qOffset = d.offset === 'one' ? d.offsets[0] : d.offset === 'rows' ? d.offsets.slice(0, d.B) : undefined;
  return {
    kind: 'attention', name: JSON.stringify(d), seed: d.seed, B: d.B, H, R: 0, block: d.block, D: d.D,
    Hkv: d.Hkv, Nq: d.Nq, Nk, qOffset, keyLengths, batchedLayout: d.batchedLayout, layoutExtra,
    layoutHeads: d.sharedLayoutHead ? 1 : H,
    opts: {
      causal: d.causal, rpe: d.rpe, keyPaddingMaskMode: d.kpm, attnMaskMode: d.am, density: d.density,
      allowEmptyRows: d.density < 0.5,
    },
  };
}

/**
 * `blocks`, `dims`: the block sizes and head dims to draw (WebGPU's attention tiles take blocks
 * 16–128; on lavapipe every new tile shape is a shader compile, so its suite draws fewer).
 */
export const drawnShape = (blocks: number[] = [4, 8, 16, 32, 64], dims: number[] = [5, 8, 16, 32, 64]): fc.Arbitrary<Drawn> => fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2, 4),
  sharedLayoutHead: fc.boolean(),
  block: fc.constantFrom(...blocks),
  Nq: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 70 })),
  extraKeys: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 90 })),
  offset: fc.constantFrom('default' as const, 'one' as const, 'rows' as const),
  offsets: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 3, maxLength: 3 }),
  ragged: fc.boolean(),
  lengths: fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 3, maxLength: 3 }),
  batchedLayout: fc.boolean(),
  D: fc.constantFrom(...dims),
  causal: fc.boolean(),
  rpe: fc.boolean(),
  kpm: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  am: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  density: fc.constantFrom(0.3, 0.6, 1),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});
