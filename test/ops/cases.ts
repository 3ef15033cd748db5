// The one case table of the op suites: every correctness case of every op, run against the float64
// reference (test/reference) on the CPU (test/ops.test.ts), on WebGPU under Deno
// (test/deno/ops.test.ts) and on the GPU machine (bench/gpu/check.ts). A case is data: a name, the
// op, a seed and the shapes and options its inputs are built from (test/ops/inputs.ts); what a
// backend cannot run is listed, with the reason, in test/ops/exclusions.ts.
//
// The random families draw their shapes here, once, from fixed seeds, so that every backend sees
// the same concrete cases under the same names.
import type { MaskMode } from '../../src/types.js';
import type { RandomAttentionOptions } from '../helpers/random.js';
import { mulberry32, pick, randomInt, type Rng } from '../helpers/random.js';

export const OPS = ['attention', 'attentionBackward', 'sdd', 'dsd', 'dds', 'softmax', 'softmaxBackward', 'linear'] as const;
export type Op = (typeof OPS)[number];
export type MatmulMode = 'sdd' | 'dsd' | 'dds';

/**
 * Which tolerance a case is held to on each backend (test/ops/run.ts): 'api' is API.md's promise
 * (CPU 5e-5 + 5e-4·|ref|, WebGPU 1e-4 + 1e-3·|ref|). Every case today uses it.
 */
export type ToleranceClass = 'api';

interface Common {
  /** Unique within its op. */
  name: string;
  seed: number;
  tolerance?: ToleranceClass;
  /**
   * Where the reference is exactly 0 (a row with nothing left to attend to, a block cut away by
   * causal), the result must be +0 too, not merely within tolerance.
   */
  exactZeros?: boolean;
}

/** Changes made to an attention case's inputs after they are drawn. */
export type AttentionEdit =
  /** q and k ×10: scores of order ±100, which overflow exp without the running max. */
  | 'scores x10'
  /** −∞ in the key padding mask → −1e9. */
  | 'kpm -inf to -1e9'
  /** −∞ and every third rpe entry → −3e38: finite, but ×log2(e) past f32's range. */
  | 'rpe -3e38'
  /** −∞ in the key padding mask → −3e38. */
  | 'kpm -3e38'
  /** every fifth rpe entry → +3e38: ×log2(e) past f32's range upwards (it read NaN), all the row's weight. */
  | 'rpe +3e38';

/** Attention forward and (unless `backward: false`) backward on the same inputs. */
export interface AttentionCase extends Common {
  kind: 'attention';
  B: number;
  H: number;
  /** Block rows (= columns): N = R · block. */
  R: number;
  block: number;
  D: number;
  opts?: Omit<RandomAttentionOptions, 'shape' | 'shapeOptions'>;
  /** A fixed layout [H, R, R] instead of a random one. */
  layout?: readonly number[];
  edit?: AttentionEdit;
  backward?: boolean;
  /** k and v heads (GQA, MQA: H a multiple of it); default H. */
  Hkv?: number;
  /** Also call attention with returnLse and check the lse against the reference. */
  lse?: boolean;
  /** Layout heads Hl (query head h reads layout head h % Hl); default H. */
  layoutHeads?: number;
  /** Block rows and columns the layout has beyond the sequence's (read top-left); default 0. */
  layoutExtra?: number;
  /** keyLengths per batch row (passed with qOffset 0 unless qOffset is given). */
  keyLengths?: readonly number[];
  /**
   * Beyond self-attention: query rows Nq and keys Nk (default R · block each; need not be
   * multiples of the block), qOffset (a number or one per batch row; passed only when given), and
   * one layout per batch row. The layout then covers ceil((max qOffset + Nq) / block) block rows
   * and ceil(Nk / block) columns (R is not read).
   */
  Nq?: number;
  Nk?: number;
  qOffset?: number | readonly number[];
  batchedLayout?: boolean;
}

/** How the sparse operand's layout [H, R, C] is drawn (test/ops/inputs.ts). */
export type LayoutKind = 'random' | 'sparse' | 'dense' | 'single' | 'empty' | { density: number; rowNonEmpty?: boolean };

/**
 * C = op(A)·op(B) with the sparse side over a layout [H, R, C] of `block` describing the sparse
 * operand's stored matrix (sdd: the output); `inner` is the free dense dimension (K for sdd, the
 * columns N for dsd, the rows M for dds).
 */
export interface MatmulCase extends Common {
  kind: 'matmul';
  mode: MatmulMode;
  transA: boolean;
  transB: boolean;
  B: number;
  H: number;
  R: number;
  C: number;
  block: number;
  inner: number;
  layout: LayoutKind;
}

export interface SoftmaxCase extends Common {
  kind: 'softmax';
  B: number;
  H: number;
  R: number;
  block: number;
  /** Block density of the random layout (default 0.5). */
  density?: number;
  /** Keep every block row non-empty (default: empty rows allowed). */
  rowsNonEmpty?: boolean;
  ensureDiagonal?: boolean;
  causal?: boolean;
  rpe?: boolean;
  kpm?: MaskMode;
  am?: MaskMode;
  scale?: number;
  fullyMaskedRows?: number[];
  fullyMaskedBatches?: number[];
  /** x uniform in ±range (default 1). */
  range?: number;
  /** Every key padded away ('mul' mask of zeros): every output is 0. */
  allKeysMasked?: boolean;
}

/**
 * dx = y ∘ (dy − rowsum(y∘dy))·scale. `y`: 'softmax' takes the (f32-rounded) float64 softmax of a
 * random x under the case's causal and key padding mask; 'random' any values (the formula does not
 * assume a softmax output).
 */
export interface SoftmaxBackwardCase extends Common {
  kind: 'softmaxBackward';
  B: number;
  H: number;
  R: number;
  block: number;
  density: number;
  rowsNonEmpty?: boolean;
  y: 'softmax' | 'random';
  scale?: number;
  causal?: boolean;
  kpm?: MaskMode;
}

/** BlockSparseLinear forward and backward against a float64 dense layer with the pruned blocks zeroed. */
export interface LinearCase extends Common {
  kind: 'linear';
  block: number;
  inF: number;
  out: number;
  density: number;
  bias: boolean;
  /** Leading dimensions of x ([] for a bare [in]). */
  lead: number[];
  /** The layer's seed (its pattern and initial values); `seed` draws x and dy. */
  layerSeed: number;
}

export type OpCase = AttentionCase | MatmulCase | SoftmaxCase | SoftmaxBackwardCase | LinearCase;

// ---------------------------------------------------------------------------------------------
// Attention

const maskChoice = (x: number): MaskMode | 'none' => (x < 0.25 ? 'add' : x < 0.5 ? 'mul' : 'none');

/** Random shapes and features, as cpu-attention.test.ts drew them per iteration. */
function randomAttentionFamily(family: string, seed: number, count: number, o: {
  blocks: number[]; maxD: number; maxB: number; maxH: number; causal: number; rpe: number; scale: boolean;
}): AttentionCase[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const block = pick(rng, o.blocks);
    const c: AttentionCase = {
      kind: 'attention', name: '', seed: seed * 1000 + i,
      B: randomInt(rng, 1, o.maxB), H: randomInt(rng, 1, o.maxH), R: randomInt(rng, 1, 4), block, D: randomInt(rng, 1, o.maxD),
      opts: {
        density: 0.3 + 0.6 * rng(),
        causal: rng() < o.causal,
        rpe: rng() < o.rpe,
        keyPaddingMaskMode: maskChoice(rng()),
        attnMaskMode: maskChoice(rng()),
        allowEmptyRows: rng() < 0.3,
        scale: o.scale && rng() < 0.2 ? 0.5 + rng() : undefined,
      },
    };
    c.name = `${family} ${i}: ${describeAttention(c)}`;
    return c;
  });
}

/** B=… H=… N=… D=… block=… and the features on, for names and labels. */
export function describeAttention(c: AttentionCase): string {
  const o = c.opts ?? {};
  const sizes = c.Nq !== undefined || c.Nk !== undefined ? `Nq=${c.Nq ?? c.R * c.block} Nk=${c.Nk ?? c.Nq ?? c.R * c.block}` : `N=${c.R * c.block}`;
  const parts = [`B=${c.B} H=${c.H}${c.Hkv !== undefined && c.Hkv !== c.H ? ` Hkv=${c.Hkv}` : ''} ${sizes} D=${c.D} block=${c.block}`];
  if (o.causal) parts.push('causal');
  if (o.rpe) parts.push('rpe');
  if (o.keyPaddingMaskMode && o.keyPaddingMaskMode !== 'none') parts.push(`kpm:${o.keyPaddingMaskMode}`);
  if (o.attnMaskMode && o.attnMaskMode !== 'none') parts.push(`am:${o.attnMaskMode}`);
  if (o.allowEmptyRows) parts.push('empty rows');
  if (o.scale !== undefined) parts.push(`scale ${+o.scale.toFixed(3)}`);
  if (c.lse) parts.push('lse');
  if (c.layoutHeads !== undefined) parts.push(`Hl=${c.layoutHeads}`);
  if (c.layoutExtra) parts.push(`layout +${c.layoutExtra} blocks`);
  if (c.keyLengths) parts.push(`keyLengths ${c.keyLengths.join(',')}`);
  if (c.qOffset !== undefined) parts.push(`qOffset ${typeof c.qOffset === 'number' ? c.qOffset : c.qOffset.join(',')}`);
  if (c.batchedLayout) parts.push('layout per batch row');
  return parts.join(' ');
}

const attn = (name: string, seed: number, B: number, H: number, R: number, block: number, D: number, extra: Partial<AttentionCase> = {}): AttentionCase =>
  ({ kind: 'attention', name, seed, B, H, R, block, D, ...extra });

/** GQA ratios 2 and 4, MQA, with causal, masks and rpe, lse on and off, blocks 16, 32, 64, D 32 and 64. */
function gqaFamily(): AttentionCase[] {
  const g = (name: string, seed: number, B: number, H: number, Hkv: number, R: number, block: number, D: number, extra: Partial<AttentionCase> = {}): AttentionCase => {
    const c = attn('', seed, B, H, R, block, D, { Hkv, ...extra });
    c.name = `${name}: ${describeAttention(c)}`;
    return c;
  };
  return [
    g('gqa 2', 8100, 2, 4, 2, 3, 16, 32, { opts: { causal: true }, lse: true }),
    g('gqa 2', 8101, 1, 4, 2, 4, 32, 64, { opts: { rpe: true, keyPaddingMaskMode: 'mul', density: 0.5 } }),
    g('gqa 2', 8102, 2, 2, 1, 2, 64, 32, { opts: { causal: true, attnMaskMode: 'add' }, lse: true }),
    g('gqa 4', 8103, 1, 8, 2, 3, 16, 64, { opts: { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' }, lse: true }),
    g('gqa 4', 8104, 2, 4, 1, 2, 32, 32, { opts: { density: 0.5, allowEmptyRows: true }, lse: true, exactZeros: true }),
    g('gqa 4', 8105, 1, 8, 2, 2, 64, 64, { opts: { causal: true, keyPaddingMaskMode: 'mul' } }),
    g('mqa', 8106, 2, 3, 1, 3, 16, 32, { opts: { keyPaddingMaskMode: 'add', fullyMaskedBatches: [1] }, lse: true, exactZeros: true }),
    g('mqa', 8107, 1, 4, 1, 3, 32, 64, { opts: { causal: true, rpe: true, attnMaskMode: 'add', fullyMaskedRows: [2, 40] }, lse: true }),
    g('mqa', 8108, 1, 5, 1, 2, 64, 32, { opts: { causal: true, allowEmptyRows: true, density: 0.5 }, lse: true }),
    g('mha lse', 8109, 2, 2, 2, 3, 16, 32, { opts: { causal: true, allowEmptyRows: true, density: 0.4 }, lse: true, exactZeros: true }),
    g('mha lse', 8110, 1, 2, 2, 2, 64, 64, { opts: { rpe: true, scale: 0.3 }, lse: true }),
    // small and odd shapes: scalar tails on the CPU
    g('gqa 3', 8111, 2, 6, 2, 3, 4, 7, { opts: { causal: true, rpe: true }, lse: true }),
    g('mqa', 8112, 1, 4, 1, 4, 3, 5, { opts: { keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }, lse: true }),
    // the WebGPU suite's GQA cases (run on lavapipe)
    g('webgpu gqa 2', 8120, 1, 4, 2, 3, 16, 32, { opts: { causal: true, rpe: true }, lse: true }),
    g('webgpu gqa 4', 8121, 2, 4, 1, 2, 32, 64, { opts: { keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }, lse: true }),
    g('webgpu mqa', 8122, 1, 3, 1, 2, 64, 32, { opts: { causal: true, density: 0.6, allowEmptyRows: true }, lse: true }),
    g('webgpu mha lse', 8123, 1, 2, 2, 3, 16, 32, { opts: { keyPaddingMaskMode: 'add', fullyMaskedBatches: [0] }, lse: true, exactZeros: true }),
  ];
}

/** Layout heads shared cyclically, layouts larger than the sequence, ragged key lengths. */
function layoutFamily(): AttentionCase[] {
  const g = (name: string, seed: number, B: number, H: number, R: number, block: number, D: number, extra: Partial<AttentionCase>): AttentionCase => {
    const c = attn('', seed, B, H, R, block, D, extra);
    c.name = `${name}: ${describeAttention(c)}`;
    return c;
  };
  return [
    g('layout heads', 8200, 2, 4, 3, 16, 32, { layoutHeads: 1, opts: { causal: true, rpe: true }, lse: true }),
    g('layout heads', 8201, 1, 6, 3, 32, 32, { layoutHeads: 2, Hkv: 3, opts: { keyPaddingMaskMode: 'add' }, lse: true }),
    g('layout heads', 8202, 1, 4, 2, 64, 64, { layoutHeads: 2, opts: { causal: true, attnMaskMode: 'mul' } }),
    g('layout crop', 8203, 2, 2, 2, 16, 32, { layoutExtra: 3, opts: { causal: true }, lse: true }),
    g('layout crop', 8204, 1, 4, 3, 32, 16, { layoutExtra: 1, layoutHeads: 1, Hkv: 2, opts: { rpe: true }, lse: true }),
    g('key lengths', 8205, 3, 2, 3, 16, 32, { keyLengths: [48, 17, 0], opts: { causal: true }, lse: true }),
    g('key lengths', 8206, 2, 4, 2, 32, 32, { keyLengths: [64, 40], Hkv: 2, opts: { keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }, lse: true }),
    g('key lengths', 8207, 2, 2, 4, 16, 5, { keyLengths: [3, 60], layoutHeads: 1, layoutExtra: 2, opts: { causal: true, rpe: true }, lse: true }),
    // the WebGPU suite's cases (run on lavapipe)
    g('webgpu layout heads', 8210, 1, 4, 3, 16, 32, { layoutHeads: 2, layoutExtra: 1, opts: { causal: true }, lse: true }),
    g('webgpu key lengths', 8211, 2, 2, 2, 32, 32, { keyLengths: [50, 9], Hkv: 1, opts: { rpe: true, keyPaddingMaskMode: 'add' }, lse: true }),
  ];
}

/**
 * Beyond self-attention: decode (Nq 1 … 16 against longer keys), chunked prefill (a chunk of queries
 * at an offset into its keys), any length (partial last blocks), ragged key lengths with their
 * default offsets, one layout per batch row; with GQA, masks, rpe and lse.
 */
function realShapesFamily(): AttentionCase[] {
  const g = (name: string, seed: number, B: number, H: number, block: number, D: number, extra: Partial<AttentionCase>): AttentionCase => {
    const c = attn('', seed, B, H, 0, block, D, extra);
    c.name = `${name}: ${describeAttention(c)}`;
    return c;
  };
  return [
    // any length: N not a multiple of the block
    g('any length', 8300, 2, 2, 16, 32, { Nq: 37, Nk: 37, opts: { causal: true, rpe: true }, lse: true }),
    g('any length', 8301, 1, 4, 32, 64, { Nq: 70, Nk: 70, Hkv: 2, opts: { keyPaddingMaskMode: 'add', attnMaskMode: 'mul' }, lse: true }),
    g('any length', 8302, 1, 2, 64, 32, { Nq: 65, Nk: 65, opts: { causal: true }, layoutHeads: 1 }),
    g('any length', 8303, 2, 2, 4, 7, { Nq: 10, Nk: 10, opts: { causal: true, attnMaskMode: 'add' }, lse: true }),
    // decode: a few queries at the end of longer keys (the default qOffset, Nk − Nq)
    g('decode', 8304, 2, 4, 16, 32, { Nq: 1, Nk: 80, Hkv: 1, opts: { causal: true }, lse: true }),
    g('decode', 8305, 1, 4, 32, 64, { Nq: 4, Nk: 150, Hkv: 2, opts: { causal: true, keyPaddingMaskMode: 'mul' }, lse: true }),
    g('decode', 8306, 2, 2, 64, 32, { Nq: 16, Nk: 200, opts: { causal: true, rpe: true }, lse: true }),
    // chunked prefill: a chunk of queries at a given offset, keys up to the chunk's end and beyond
    g('chunked prefill', 8307, 1, 2, 16, 32, { Nq: 24, Nk: 72, qOffset: 40, opts: { causal: true }, lse: true }),
    g('chunked prefill', 8308, 2, 4, 32, 32, { Nq: 33, Nk: 97, qOffset: [50, 64], Hkv: 2, opts: { causal: true, attnMaskMode: 'add' }, lse: true }),
    g('chunked prefill', 8309, 1, 2, 16, 16, { Nq: 20, Nk: 40, qOffset: 5, opts: { rpe: true }, lse: true }),
    // ragged batches: each row's queries are its last Nq positions (keyLengths[b] − Nq)
    g('ragged', 8310, 3, 2, 16, 32, { Nq: 8, Nk: 64, keyLengths: [64, 30, 8], opts: { causal: true }, lse: true }),
    g('ragged', 8311, 2, 4, 32, 32, { Nq: 1, Nk: 96, keyLengths: [96, 41], Hkv: 1, opts: { causal: true, rpe: true }, lse: true }),
    // one layout per batch row
    g('layout per batch row', 8312, 2, 2, 16, 32, { Nq: 48, Nk: 48, batchedLayout: true, opts: { causal: true }, lse: true }),
    g('layout per batch row', 8313, 3, 4, 16, 16, { Nq: 3, Nk: 45, batchedLayout: true, layoutHeads: 2, Hkv: 2, opts: { causal: true }, lse: true }),
    // the WebGPU suite's cases (run on lavapipe)
    g('webgpu any length', 8320, 1, 2, 16, 32, { Nq: 45, Nk: 45, opts: { causal: true }, lse: true }),
    g('webgpu decode', 8321, 2, 4, 32, 32, { Nq: 2, Nk: 90, Hkv: 2, opts: { causal: true }, lse: true }),
    g('webgpu chunked prefill', 8322, 1, 2, 16, 32, { Nq: 20, Nk: 60, qOffset: 30, opts: { causal: true, rpe: true }, lse: true }),
    g('webgpu layout per batch row', 8323, 2, 2, 32, 32, { Nq: 40, Nk: 70, qOffset: [30, 10], batchedLayout: true, opts: { causal: true }, lse: true }),
    // decode against longer keys, for the GPU machine (bench/gpu/check.ts): the split-KV path, many chunks a row
    g('gpu decode', 8330, 1, 8, 64, 128, { Nq: 1, Nk: 1000, Hkv: 2, opts: { causal: true }, lse: true }),
    g('gpu decode', 8331, 2, 8, 32, 64, { Nq: 8, Nk: 700, Hkv: 2, opts: { causal: true, keyPaddingMaskMode: 'add' }, lse: true }),
    g('gpu decode', 8332, 1, 4, 128, 256, { Nq: 1, Nk: 600, Hkv: 1, lse: true }),
    g('gpu decode', 8333, 2, 4, 16, 32, { Nq: 8, Nk: 520, qOffset: [100, 400], Hkv: 2, opts: { causal: true, rpe: true }, lse: true }),
    g('webgpu ragged', 8324, 2, 4, 16, 16, { Nq: 5, Nk: 50, keyLengths: [50, 23], Hkv: 1, layoutHeads: 1, opts: { keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }, lse: true }),
  ];
}

const ATTENTION: AttentionCase[] = [
  // random small shapes: odd blocks and head dims (the scalar tails), every feature at random
  ...randomAttentionFamily('random small', 11, 80, { blocks: [1, 2, 3, 4, 5, 6, 8, 12], maxD: 20, maxB: 2, maxH: 3, causal: 0.35, rpe: 0.35, scale: true }),
  ...randomAttentionFamily('random 8..32', 13, 16, { blocks: [8, 16, 24, 32], maxD: 72, maxB: 2, maxH: 2, causal: 0.4, rpe: 0.3, scale: false }),
  // every block size, head dims 16..256 and odd ones: [block, D, R]
  ...([
    [8, 16, 4], [8, 7, 3], [16, 64, 3], [16, 100, 2], [16, 1, 3], [32, 80, 3], [32, 36, 2],
    [64, 64, 2], [64, 7, 2], [64, 256, 2], [128, 32, 2], [128, 96, 1], [24, 44, 3],
  ] as const).map(([block, D, R], i) => attn(`block ${block} D ${D} R ${R}`, 2100 + i, 1, 2, R, block, D, { opts: { density: 0.7 } })),
  // causal, rpe, key padding and attention masks in both modes
  ...[16, 32].flatMap((block, j) => {
    const D = block === 16 ? 24 : 64;
    const s = 3100 + 10 * j;
    return [
      attn(`block ${block} causal`, s, 1, 2, 3, block, D, { opts: { causal: true } }),
      attn(`block ${block} rpe`, s + 1, 2, 1, 3, block, D, { opts: { rpe: true } }),
      attn(`block ${block} kpm add`, s + 2, 2, 2, 3, block, D, { opts: { keyPaddingMaskMode: 'add' } }),
      attn(`block ${block} kpm mul`, s + 3, 2, 2, 3, block, D, { opts: { keyPaddingMaskMode: 'mul' } }),
      attn(`block ${block} attnMask add`, s + 4, 1, 2, 3, block, D, { opts: { attnMaskMode: 'add' } }),
      attn(`block ${block} attnMask mul`, s + 5, 1, 2, 3, block, D, { opts: { attnMaskMode: 'mul' } }),
      attn(`block ${block} causal rpe kpm mul attnMask add`, s + 6, 2, 2, 3, block, D, {
        opts: { causal: true, rpe: true, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' },
      }),
    ];
  }),
  // fully masked rows and empty block rows give zeros, never NaN
  attn('kpm mul, batch 1 fully masked', 4100, 3, 2, 3, 16, 32, { opts: { keyPaddingMaskMode: 'mul', fullyMaskedBatches: [1] }, exactZeros: true }),
  attn('kpm add, batch 0 fully masked', 4101, 2, 1, 3, 16, 32, { opts: { keyPaddingMaskMode: 'add', fullyMaskedBatches: [0] }, exactZeros: true }),
  attn('attnMask mul, fully masked rows', 4102, 1, 2, 3, 16, 20, { opts: { attnMaskMode: 'mul', fullyMaskedRows: [0, 5, 17, 40, 47] }, exactZeros: true }),
  attn('attnMask add causal, fully masked rows', 4103, 1, 2, 3, 16, 20, { opts: { attnMaskMode: 'add', causal: true, fullyMaskedRows: [1, 16, 33] }, exactZeros: true }),
  attn('empty block rows, keys nobody attends to', 4104, 2, 2, 4, 16, 32, {
    layout: [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1],
    exactZeros: true,
  }),
  attn('causal drops rows whose only blocks lie above the diagonal', 4105, 1, 1, 3, 8, 12, {
    layout: [0, 1, 1, 0, 0, 1, 0, 0, 1], opts: { causal: true }, exactZeros: true,
  }),
  attn('a layout with no block at all', 4106, 1, 2, 2, 16, 16, { layout: [0, 0, 0, 0, 0, 0, 0, 0], exactZeros: true }),
  attn('webgpu every key masked (kpm mul, one batch)', 4107, 1, 1, 2, 16, 16, { opts: { keyPaddingMaskMode: 'mul', fullyMaskedBatches: [0] }, exactZeros: true }),
  // single-block and dense layouts, B·H > 1
  attn('single block, B 2 H 3', 5100, 2, 3, 1, 32, 48, { layout: [1, 1, 1] }),
  attn('dense layout', 5101, 2, 2, 4, 16, 64, { opts: { density: 1 } }),
  attn('dense layout causal', 5102, 2, 2, 4, 16, 64, { opts: { density: 1, causal: true } }),
  attn('B 3 H 4 causal rpe', 5103, 3, 4, 3, 16, 16, { opts: { density: 0.5, causal: true, rpe: true } }),
  // large scores stay stable (online max); huge finite masks stay finite
  attn('scores of order 100', 6100, 1, 2, 3, 16, 32, { opts: { density: 0.8 }, edit: 'scores x10' }),
  attn('kpm of -1e9', 6101, 2, 1, 3, 16, 32, { opts: { keyPaddingMaskMode: 'add' }, edit: 'kpm -inf to -1e9' }),
  attn('rpe of -3e38', 6102, 2, 1, 2, 16, 8, { opts: { rpe: true }, edit: 'rpe -3e38' }),
  attn('kpm of -3e38, batch 1 all of it', 6103, 2, 1, 2, 16, 8, { opts: { keyPaddingMaskMode: 'add', fullyMaskedBatches: [1] }, edit: 'kpm -3e38' }),
  attn('rpe of +3e38', 6104, 2, 1, 2, 16, 8, { opts: { rpe: true }, edit: 'rpe +3e38' }),
  // the WebGPU suite's cases: tiles, head-dim chunks, vec4 padding
  attn('webgpu block 16 D 16 dense-ish', 1, 1, 2, 4, 16, 16),
  attn('webgpu rpe of +3e38 (clamped on upload: it read NaN)', 6105, 1, 2, 2, 16, 16, { opts: { rpe: true }, edit: 'rpe +3e38' }),
  attn('webgpu block 32 D 64 causal', 2, 2, 2, 4, 32, 64, { opts: { causal: true } }),
  attn('webgpu block 64 D 32 rpe kpm mul', 3, 2, 1, 3, 64, 32, { opts: { rpe: true, keyPaddingMaskMode: 'mul' } }),
  attn('webgpu block 16 D 80 attnMask add fully masked rows, kpm add fully masked batch', 4, 2, 2, 3, 16, 80, {
    opts: { attnMaskMode: 'add', fullyMaskedRows: [0, 17], keyPaddingMaskMode: 'add', fullyMaskedBatches: [1] },
  }),
  attn('webgpu block 32 D 20 (partial head-dim chunk) causal attnMask mul scale', 5, 1, 3, 3, 32, 20, { opts: { causal: true, attnMaskMode: 'mul', scale: 0.37 } }),
  attn('webgpu block 16 D 32 empty block rows', 6, 1, 2, 6, 16, 32, { opts: { allowEmptyRows: true, density: 0.25 } }),
  attn('webgpu block 16 D 18 (padded to vec4) causal rpe', 7, 1, 1, 3, 16, 18, { opts: { causal: true, rpe: true } }),
  attn('webgpu block 128 D 64 (query tiles, key chunks) causal', 8, 1, 1, 2, 128, 64, { opts: { causal: true } }),
  attn('webgpu block 16 causal, missing diagonal blocks', 10, 1, 2, 7, 16, 16, { opts: { causal: true, allowEmptyRows: true, density: 0.45 } }),
  attn('webgpu block 32 D 64 every mask causal (gather chunks)', 12, 1, 2, 5, 32, 64, { opts: { causal: true, rpe: true, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' } }),
  attn('webgpu block 64 D 16 all masks causal', 9, 1, 2, 2, 64, 16, { opts: { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' }, backward: false }),
  // GQA and MQA (query heads sharing kv heads, no copy of them), and returnLse's lse
  ...gqaFamily(),
  // layout heads shared cyclically (h % Hl), layouts read top-left, ragged batches (keyLengths)
  ...layoutFamily(),
  // decode, chunked prefill, any length, ragged batches, a layout per batch row
  ...realShapesFamily(),
  // the GPU machine's cases (bench/gpu/check.ts): larger, the 48 KiB and 128-row tiles
  attn('gpu b16 D16', 7001, 1, 2, 8, 16, 16),
  attn('gpu b32 D64 causal', 7002, 2, 2, 6, 32, 64, { opts: { causal: true } }),
  attn('gpu b64 D64 rpe kpm mul', 7003, 1, 2, 4, 64, 64, { opts: { rpe: true, keyPaddingMaskMode: 'mul' } }),
  attn('gpu b64 D128 causal attnMask add', 7004, 1, 2, 4, 64, 128, { opts: { causal: true, attnMaskMode: 'add', fullyMaskedRows: [5] } }),
  attn('gpu b128 D64 causal', 7005, 1, 2, 3, 128, 64, { opts: { causal: true } }),
  attn('gpu b128 D256', 7006, 1, 1, 2, 128, 256),
  attn('gpu b128 D80 all masks', 7007, 1, 2, 2, 128, 80, { opts: { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' } }),
  attn('gpu b32 D20 empty rows', 7008, 1, 2, 5, 32, 20, { opts: { allowEmptyRows: true, density: 0.3 } }),
  attn('gpu b16 D18 causal', 7009, 1, 1, 4, 16, 18, { opts: { causal: true } }),
  attn('gpu b16 D64 causal no diagonal', 7010, 1, 2, 9, 16, 64, { opts: { causal: true, allowEmptyRows: true, density: 0.4 } }),
  attn('gpu b32 D64 causal all masks', 7011, 2, 2, 6, 32, 64, { opts: { causal: true, rpe: true, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' } }),
];

// ---------------------------------------------------------------------------------------------
// Matmul

const MODES: MatmulMode[] = ['sdd', 'dsd', 'dds'];
const TRANS: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];

function layoutName(l: LayoutKind): string {
  return typeof l === 'string' ? l : `density ${l.density}${l.rowNonEmpty ? ' rows non-empty' : ''}`;
}

function mm(name: string, seed: number, mode: MatmulMode, transA: boolean, transB: boolean, o: Omit<MatmulCase, 'kind' | 'name' | 'seed' | 'mode' | 'transA' | 'transB'>): MatmulCase {
  const c: MatmulCase = { kind: 'matmul', name: '', seed, mode, transA, transB, ...o };
  c.name = `${name}: transA=${transA} transB=${transB} B=${o.B} H=${o.H} R=${o.R} C=${o.C} block=${o.block} inner=${o.inner} ${layoutName(o.layout)}`;
  return c;
}

/** 14 random shapes per mode × transpose, as cpu-matmul.test.ts drew them. */
function randomMatmulFamily(): MatmulCase[] {
  const out: MatmulCase[] = [];
  for (const mode of MODES) {
    for (const [transA, transB] of TRANS) {
      const seed = 1000 + MODES.indexOf(mode) * 10 + Number(transA) * 2 + Number(transB);
      const rng = mulberry32(seed);
      for (let i = 0; i < 14; i++) {
        const block = pick(rng, [1, 2, 3, 4, 5, 8, 8, 16, 16, 32]);
        const maxBlocks = block >= 16 ? 3 : 5;
        out.push(mm(`random ${i}`, seed * 100 + i, mode, transA, transB, {
          B: randomInt(rng, 1, 2), H: randomInt(rng, 1, 3), R: randomInt(rng, 1, maxBlocks), C: randomInt(rng, 1, maxBlocks), block,
          inner: pick(rng, [1, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33]),
          // the engine rejects a block-sparse operand with nothing kept: 'empty' is sdd only
          layout: pick(rng, mode === 'sdd' ? ['random', 'sparse', 'dense', 'single', 'empty'] as const : ['random', 'random', 'sparse', 'dense', 'single'] as const),
        }));
      }
    }
  }
  return out;
}

/** Large blocks (64, 128) and a long inner dimension (past the k chunk), every mode and transpose. */
function largeMatmulFamily(): MatmulCase[] {
  const rng = mulberry32(7);
  const out: MatmulCase[] = [];
  for (const mode of MODES) {
    for (const [transA, transB] of TRANS) {
      for (const block of [64, 128]) {
        out.push(mm('large block', 7000 + out.length, mode, transA, transB, {
          B: 1, H: 2, R: 2, C: 2, block, inner: mode === 'sdd' ? pick(rng, [300, 517]) : pick(rng, [6, 70]),
          layout: pick(rng, ['random', 'dense'] as const),
        }));
      }
    }
  }
  return out;
}

const MATMUL: MatmulCase[] = [
  ...randomMatmulFamily(),
  ...largeMatmulFamily(),
  // attention-shaped pieces: q·kᵀ (sdd), p·v (dsd), pᵀ·dout (dsd with Aᵀ), qᵀ·ds (dds with Aᵀ)
  ...(() => {
    const o = { B: 2, H: 2, R: 6, C: 6, block: 16, layout: { density: 0.5, rowNonEmpty: true } };
    return [
      mm('q·kᵀ', 11, 'sdd', false, true, { ...o, inner: 20 }),
      mm('p·v', 12, 'dsd', false, false, { ...o, inner: 20 }),
      mm('pᵀ·dout', 13, 'dsd', true, false, { ...o, inner: 20 }),
      mm('qᵀ·ds', 14, 'dds', true, false, { ...o, inner: 20 }),
    ];
  })(),
  // the WebGPU suite's cases: one fixed shape per mode, every transpose
  ...TRANS.flatMap(([transA, transB]) => [
    mm('webgpu', 1000 + +transA * 2 + +transB, 'sdd', transA, transB, { B: 2, H: 2, R: 3, C: 2, block: 32, inner: 20, layout: { density: 0.6, rowNonEmpty: true } }),
    mm('webgpu', 1000 + +transA * 2 + +transB, 'dsd', transA, transB, { B: 2, H: 2, R: 3, C: 5, block: 16, inner: 18, layout: { density: 0.5 } }),
    mm('webgpu', 1000 + +transA * 2 + +transB, 'dds', transA, transB, { B: 2, H: 2, R: 4, C: 3, block: 16, inner: 40, layout: { density: 0.5 } }),
  ]),
  // blocks off the powers of two (BlockSparseLinear's 24 and 40; 96 past the 64 tile edge), every mode and transpose
  ...[24, 40, 96].flatMap((block, j) => MODES.flatMap((mode, i) => TRANS.map(([transA, transB]) =>
    mm(`block ${block}`, 9100 + 100 * j + 10 * i + +transA * 2 + +transB, mode, transA, transB, {
      B: 1, H: 2, R: 2, C: 3, block, inner: mode === 'sdd' ? 20 : 12, layout: { density: 0.6, rowNonEmpty: true },
    })))),
  mm('block 64 (vec4 N)', 77, 'sdd', false, true, { B: 1, H: 1, R: 2, C: 2, block: 64, inner: 64, layout: { density: 0.7, rowNonEmpty: true } }),
  mm('block 64 wide N', 78, 'dsd', false, false, { B: 1, H: 1, R: 2, C: 2, block: 64, inner: 100, layout: { density: 0.7, rowNonEmpty: true } }),
  // the GPU machine's cases (bench/gpu/check.ts): block 64 over [2, 4, 3], long K
  ...TRANS.flatMap(([transA, transB]) => {
    const o = { B: 2, H: 2, R: 4, C: 3, block: 64, layout: { density: 0.6, rowNonEmpty: true } };
    const s = 8000 + +transA * 2 + +transB;
    return [
      mm('gpu', s, 'sdd', transA, transB, { ...o, inner: 72 }),
      mm('gpu', s, 'dsd', transA, transB, { ...o, inner: 100 }),
      mm('gpu', s, 'dds', transA, transB, { ...o, inner: 90 }),
    ];
  }),
];

// ---------------------------------------------------------------------------------------------
// Softmax

function sm(name: string, seed: number, o: Omit<SoftmaxCase, 'kind' | 'name' | 'seed'>): SoftmaxCase {
  return { kind: 'softmax', name, seed, ...o };
}

function describeSoftmax(c: Omit<SoftmaxCase, 'kind' | 'name' | 'seed'>): string {
  return Object.entries(c).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v}]` : v}`).join(' ');
}

/** A random shape as cpu-softmax.test.ts drew it, with `extra` on top. */
function randomSoftmaxShape(rng: Rng, extra: Partial<SoftmaxCase> = {}): Omit<SoftmaxCase, 'kind' | 'name' | 'seed'> {
  const block = pick(rng, [1, 2, 3, 4, 5, 7, 8, 16, 16, 32]);
  return {
    B: randomInt(rng, 1, 2), H: randomInt(rng, 1, 2), R: randomInt(rng, 1, block >= 16 ? 3 : 5), block,
    density: pick(rng, [0.3, 0.6, 1]), scale: pick(rng, [1, 0.125, 0.7, -1.5]), range: 3,
    ...extra,
  };
}

function softmaxFamily(family: string, seed: number, shapes: (rng: Rng, i: number) => Omit<SoftmaxCase, 'kind' | 'name' | 'seed'>, count: number): SoftmaxCase[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const o = shapes(rng, i);
    if (o.causal && o.ensureDiagonal === undefined) o.ensureDiagonal = rng() < 0.5;
    return sm(`${family} ${i}: ${describeSoftmax(o)}`, seed * 1000 + i, o);
  });
}

const MASKS = ['none', 'add', 'mul'] as const;
const maskOf = (m: (typeof MASKS)[number]) => (m === 'none' ? undefined : m);

const SOFTMAX: SoftmaxCase[] = [
  ...softmaxFamily('random', 1, (rng) => randomSoftmaxShape(rng), 16),
  // every mask mode, alone and together, with and without rpe, causal or not
  ...softmaxFamily('masks', 2, (rng, i) => {
    const kpm = MASKS[Math.floor(i / 6)];
    const am = MASKS[Math.floor(i / 2) % 3];
    return randomSoftmaxShape(rng, { kpm: maskOf(kpm), am: maskOf(am), rpe: i % 2 === 1, causal: rng() < 0.5 });
  }, 18),
  // causal: diagonal blocks cut, blocks above dropped to exact zeros
  ...softmaxFamily('causal', 3, (rng) => randomSoftmaxShape(rng, { causal: true, density: pick(rng, [0.5, 1]) }), 10),
  sm('causal dense, blocks above the diagonal are zeros', 3001, { B: 1, H: 1, R: 3, block: 8, density: 1, causal: true, range: 3, exactZeros: true }),
  // fully masked rows and batches give zeros, never NaN
  ...softmaxFamily('fully masked', 4, (rng) => {
    const o = randomSoftmaxShape(rng, { R: 3, block: pick(rng, [3, 4, 8]), am: pick(rng, ['add', 'mul'] as const), kpm: pick(rng, ['add', 'mul'] as const) });
    o.fullyMaskedRows = [0, randomInt(rng, 1, o.R * o.block - 1)];
    o.fullyMaskedBatches = o.B > 1 ? [1] : [];
    o.exactZeros = true;
    return o;
  }, 6),
  sm('every key masked', 4001, { B: 1, H: 2, R: 2, block: 4, density: 1, allKeysMasked: true, range: 3, exactZeros: true }),
  // large blocks with masks
  sm('block 64 causal rpe kpm add attnMask mul', 5001, { B: 1, H: 2, R: 2, block: 64, density: 1, causal: true, rpe: true, kpm: 'add', am: 'mul', scale: 0.125, range: 3 }),
  sm('block 32 kpm mul attnMask add', 5002, { B: 2, H: 1, R: 3, block: 32, density: 0.6, kpm: 'mul', am: 'add', scale: 0.3, range: 3 }),
  // the WebGPU suite's cases
  sm('plain, scale 0.5', 21, { B: 2, H: 2, R: 4, block: 16, density: 0.6, scale: 0.5 }),
  sm('causal rpe kpm add attnMask mul', 22, { B: 2, H: 2, R: 3, block: 32, density: 0.6, ensureDiagonal: true, causal: true, rpe: true, kpm: 'add', am: 'mul' }),
  sm('kpm mul, attnMask add with fully masked rows, empty block rows', 23, { B: 2, H: 2, R: 5, block: 16, density: 0.3, kpm: 'mul', am: 'add', fullyMaskedRows: [3, 40] }),
  sm('block 64 causal', 24, { B: 2, H: 2, R: 2, block: 64, density: 0.6, ensureDiagonal: true, causal: true }),
  // the GPU machine's case
  sm('gpu block 64 causal rpe', 9001, { B: 2, H: 2, R: 4, block: 64, density: 0.6, ensureDiagonal: true, causal: true, rpe: true, scale: 0.3 }),
];

const SOFTMAX_BACKWARD: SoftmaxBackwardCase[] = [
  // DeepSpeed's formula on a softmax output and on arbitrary y, as cpu-softmax.test.ts drew them
  ...(() => {
    const rng = mulberry32(6);
    return Array.from({ length: 16 }, (_, i) => {
      const s = randomSoftmaxShape(rng, { causal: rng() < 0.5, kpm: pick(rng, [undefined, 'mul'] as const) });
      const base = { kind: 'softmaxBackward' as const, B: s.B, H: s.H, R: s.R, block: s.block, density: s.density!, scale: s.scale, causal: s.causal, kpm: s.kpm };
      const label = `B=${s.B} H=${s.H} R=${s.R} block=${s.block} density=${s.density} scale=${s.scale}${s.causal ? ' causal' : ''}${s.kpm ? ` kpm:${s.kpm}` : ''}`;
      return [
        { ...base, name: `random ${i}, y a softmax: ${label}`, seed: 6000 + 2 * i, y: 'softmax' as const },
        { ...base, name: `random ${i}, y random: ${label}`, seed: 6001 + 2 * i, y: 'random' as const },
      ];
    }).flat();
  })(),
  // the WebGPU suite's cases: scale and empty rows
  { kind: 'softmaxBackward', name: 'block 16 scale 1, empty rows', seed: 31, B: 2, H: 2, R: 4, block: 16, density: 0.5, y: 'random', scale: 1 },
  { kind: 'softmaxBackward', name: 'block 32 scale 0.25, empty rows', seed: 32, B: 2, H: 2, R: 4, block: 32, density: 0.3, y: 'random', scale: 0.25 },
];

// ---------------------------------------------------------------------------------------------
// Linear

const lin = (name: string, seed: number, o: Omit<LinearCase, 'kind' | 'name' | 'seed'>): LinearCase => ({ kind: 'linear', name, seed, ...o });

const showLinear = (c: Omit<LinearCase, 'kind' | 'name' | 'seed'>) =>
  `block ${c.block}, [${c.out}, ${c.inF}], density ${c.density}, bias ${c.bias}, x [${[...c.lead, c.inF]}]`;

/** Random shapes as linear.test.ts drew them: batch rows off the block, sometimes [2, 3, in], sometimes a bare [in]. */
function randomLinearFamily(seed: number, count: number): LinearCase[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const block = pick(rng, [8, 16, 32, 64]);
    const maxBlocks = block >= 64 ? 3 : block >= 32 ? 4 : 6;
    const o = {
      block,
      inF: block * randomInt(rng, 1, maxBlocks),
      out: block * randomInt(rng, 1, maxBlocks),
      density: pick(rng, [0.1, 0.25, 0.4, 0.5, 0.75, 0.9, 1]),
      bias: rng() < 0.7,
      lead: pick(rng, [[randomInt(rng, 1, 45)], [2, 3], [randomInt(rng, 1, 3), randomInt(rng, 1, 7)], []]),
      layerSeed: 1000 + i,
    };
    return lin(`random ${seed}.${i}: ${showLinear(o)}`, seed * 1000 + i, o);
  });
}

const LINEAR: LinearCase[] = [
  // linear.test.ts drew 40 shapes for the forward and 40 for the backward from two seeds; each case here checks both
  ...randomLinearFamily(7, 40),
  ...randomLinearFamily(8, 40),
  // blocks off the powers of two and up to 128
  ...[12, 24, 40, 128].map((block, i) => lin(`block ${block}`, 10 + i, { block, inF: block * 3, out: block * 2, density: 0.5, bias: true, lead: [1 + ((block * 7) % 40)], layerSeed: block })),
  // the WebGPU suite's cases (test/deno/linear.test.ts)
  ...([
    [64, 96, 16, 37, 0.4, true],
    [128, 64, 32, 20, 0.25, false],
    [32, 32, 8, 16, 1, true],
    [40, 24, 8, 9, 0.5, true],
    [32, 48, 16, 9, 1, true],
  ] as const).map(([inF, out, block, rows, density, bias], i) =>
    lin(`in ${inF} out ${out} block ${block} rows ${rows} density ${density}`, 50 + i, { block, inF, out, density, bias, lead: [rows], layerSeed: 3 })),
];

/** Every case, by op. */
export const CASES: { readonly [op in Op]: readonly OpCase[] } = {
  attention: ATTENTION,
  attentionBackward: ATTENTION.filter((c) => c.backward !== false),
  sdd: MATMUL.filter((c) => c.mode === 'sdd'),
  dsd: MATMUL.filter((c) => c.mode === 'dsd'),
  dds: MATMUL.filter((c) => c.mode === 'dds'),
  softmax: SOFTMAX,
  softmaxBackward: SOFTMAX_BACKWARD,
  linear: LINEAR,
};

for (const op of OPS) {
  const names = new Set<string>();
  for (const c of CASES[op]) {
    if (names.has(c.name)) throw new Error(`test/ops/cases.ts: two ${op} cases are named '${c.name}'`);
    names.add(c.name);
  }
}
