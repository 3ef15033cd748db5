// Seeded random inputs for tests: tensors, layouts, masks and shapes, drawn from the one seeded
// generator (cli/random.ts, shared with the app and the benchmarks).
import type { Rng } from '../../cli/random.js';
import type { AttentionArgs, Layout, MaskMode, ScoreOptions, Tensor } from '../../src/types.js';

export { mulberry32, type Rng } from '../../cli/random.js';

/** An integer in [min, max], both inclusive. */
export function randomInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

export function randomFloat(rng: Rng, min: number, max: number): number {
  return min + (max - min) * rng();
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)];
}

/** A tensor of uniform values in [min, max) (default [-1, 1)), rounded to f32. */
export function randomTensor(shape: number[], rng: Rng, opts: { min?: number; max?: number } = {}): Tensor {
  const { min = -1, max = 1 } = opts;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = randomFloat(rng, min, max);
  return { data, shape: [...shape] };
}

export interface RandomLayoutOptions {
  /** Default 16. */
  block?: number;
  /** Give every block row at least one block (the diagonal when ensureDiagonal, else a random one). */
  ensureRowNonEmpty?: boolean;
  /** Keep every diagonal block (r, r) with r < C. */
  ensureDiagonal?: boolean;
}

/** A layout [H, R, C] whose blocks are kept with probability `density`. */
export function randomLayout(
  H: number,
  R: number,
  C: number,
  density: number,
  rng: Rng,
  opts: RandomLayoutOptions = {},
): Layout {
  const { block = 16, ensureRowNonEmpty = false, ensureDiagonal = false } = opts;
  const data = new Uint8Array(H * R * C);
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      const base = (h * R + r) * C;
      for (let c = 0; c < C; c++) data[base + c] = rng() < density ? 1 : 0;
      if (ensureDiagonal && r < C) data[base + r] = 1;
      if (ensureRowNonEmpty && !data.subarray(base, base + C).some((x) => x !== 0)) {
        data[base + randomInt(rng, 0, C - 1)] = 1;
      }
    }
  }
  return { block, shape: [H, R, C], data };
}

export interface RandomMaskOptions {
  /** 'add': kept entries are finite values in [-1, 0.5), masked ones `maskedValue`; 'mul': masked 0, kept nonzero. */
  mode?: MaskMode;
  /** Probability of masking an entry (default 0.2). */
  maskedFraction?: number;
  /** The masked value in 'add' mode (default −∞). */
  maskedValue?: number;
}

function maskValue(rng: Rng, masked: boolean, mode: MaskMode, maskedValue: number): number {
  if (mode === 'mul') {
    // DeepSpeed's 'mul' mode: 0 masks, anything else keeps. Use varied nonzero values.
    return masked ? 0 : pick(rng, [1, 1, 0.5, 2, -1]);
  }
  return masked ? maskedValue : randomFloat(rng, -1, 0.5);
}

/** A key padding mask [B, N]; the batches in `fullyMaskedBatches` have every key masked. */
export function randomKeyPaddingMask(
  B: number,
  N: number,
  rng: Rng,
  opts: RandomMaskOptions & { fullyMaskedBatches?: number[] } = {},
): Tensor {
  const { mode = 'add', maskedFraction = 0.2, maskedValue = -Infinity, fullyMaskedBatches = [] } = opts;
  const data = new Float32Array(B * N);
  for (let b = 0; b < B; b++) {
    const all = fullyMaskedBatches.includes(b);
    for (let j = 0; j < N; j++) data[b * N + j] = maskValue(rng, all || rng() < maskedFraction, mode, maskedValue);
  }
  return { data, shape: [B, N] };
}

/** An attention mask [M, N] (default mode 'mul'); the rows in `fullyMaskedRows` are masked entirely. */
export function randomAttnMask(
  M: number,
  N: number,
  rng: Rng,
  opts: RandomMaskOptions & { fullyMaskedRows?: number[] } = {},
): Tensor {
  const { mode = 'mul', maskedFraction = 0.2, maskedValue = -Infinity, fullyMaskedRows = [] } = opts;
  const data = new Float32Array(M * N);
  for (let i = 0; i < M; i++) {
    const all = fullyMaskedRows.includes(i);
    for (let j = 0; j < N; j++) data[i * N + j] = maskValue(rng, all || rng() < maskedFraction, mode, maskedValue);
  }
  return { data, shape: [M, N] };
}

export interface AttentionShape {
  B: number;
  H: number;
  /** N = R * block. */
  N: number;
  D: number;
  block: number;
  /** Blocks per side. */
  R: number;
}

export interface RandomShapeOptions {
  maxB?: number;
  maxH?: number;
  /** Block sizes to choose from (default [1, 2, 3, 4]). */
  blocks?: number[];
  maxBlocksPerSide?: number;
  maxD?: number;
}

/** A small random attention shape (defaults: B ≤ 2, H ≤ 2, block ∈ {1..4}, R ≤ 4, D ≤ 8). */
export function randomAttentionShape(rng: Rng, opts: RandomShapeOptions = {}): AttentionShape {
  const { maxB = 2, maxH = 2, blocks = [1, 2, 3, 4], maxBlocksPerSide = 4, maxD = 8 } = opts;
  const block = pick(rng, blocks);
  const R = randomInt(rng, 1, maxBlocksPerSide);
  return { B: randomInt(rng, 1, maxB), H: randomInt(rng, 1, maxH), N: R * block, D: randomInt(rng, 1, maxD), block, R };
}

export interface RandomAttentionOptions {
  shape?: AttentionShape;
  shapeOptions?: RandomShapeOptions;
  /** Block density (default 0.6); rows are kept non-empty unless allowEmptyRows. */
  density?: number;
  allowEmptyRows?: boolean;
  causal?: boolean;
  rpe?: boolean;
  keyPaddingMaskMode?: MaskMode | 'none';
  attnMaskMode?: MaskMode | 'none';
  /** Forwarded to the masks. */
  fullyMaskedBatches?: number[];
  fullyMaskedRows?: number[];
  scale?: number;
  /** k and v heads (GQA, MQA; default the shape's H, which it must divide). */
  kvHeads?: number;
}

/** AttentionArgs whose q, k, v are host Tensors (what the references take). */
export type HostAttentionArgs = AttentionArgs & { q: Tensor; k: Tensor; v: Tensor; layout: Layout };
/** AttentionBackwardArgs whose q, k, v and dout are host Tensors. */
export type HostAttentionBackwardArgs = HostAttentionArgs & { dout: Tensor };

/** Random AttentionArgs with the requested features (all off by default). */
export function randomAttentionArgs(rng: Rng, opts: RandomAttentionOptions = {}): HostAttentionArgs {
  const s = opts.shape ?? randomAttentionShape(rng, opts.shapeOptions);
  const { B, H, N, D, block, R } = s;
  const layout = randomLayout(H, R, R, opts.density ?? 0.6, rng, {
    block,
    ensureRowNonEmpty: !opts.allowEmptyRows,
    ensureDiagonal: !!opts.causal && !opts.allowEmptyRows,
  });
  const args: HostAttentionArgs = {
    q: randomTensor([B, H, N, D], rng),
    k: randomTensor([B, opts.kvHeads ?? H, N, D], rng),
    v: randomTensor([B, opts.kvHeads ?? H, N, D], rng),
    layout,
  };
  if (opts.scale !== undefined) args.scale = opts.scale;
  if (opts.causal) args.causal = true;
  return Object.assign(args, randomScoreTerms(rng, B, H, N, N, opts));
}

/** Which score terms randomScoreTerms draws ('none' or absent: not that mask). */
export interface ScoreTermOptions {
  rpe?: boolean;
  keyPaddingMaskMode?: MaskMode | 'none';
  attnMaskMode?: MaskMode | 'none';
  fullyMaskedBatches?: number[];
  fullyMaskedRows?: number[];
}

/**
 * rpe [B, H, rows, cols], keyPaddingMask [B, cols] and attnMask [rows, cols], drawn in that order
 * from rng (each only when asked for), with their modes: the score terms of attention and softmax.
 */
export function randomScoreTerms(rng: Rng, B: number, H: number, rows: number, cols: number, o: ScoreTermOptions): ScoreOptions {
  const terms: ScoreOptions = {};
  if (o.rpe) terms.rpe = randomTensor([B, H, rows, cols], rng);
  const kpm = o.keyPaddingMaskMode ?? 'none';
  if (kpm !== 'none') {
    terms.keyPaddingMask = randomKeyPaddingMask(B, cols, rng, { mode: kpm, fullyMaskedBatches: o.fullyMaskedBatches });
    terms.keyPaddingMaskMode = kpm;
  }
  const am = o.attnMaskMode ?? 'none';
  if (am !== 'none') {
    terms.attnMask = randomAttnMask(rows, cols, rng, { mode: am, fullyMaskedRows: o.fullyMaskedRows });
    terms.attnMaskMode = am;
  }
  return terms;
}
