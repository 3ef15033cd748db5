// BlockSparseLinear: Hugging Face pytorch_block_sparse's `BlockSparseLinear` for every JavaScript
// runtime. A linear layer y = x·Wᵀ + b whose weight keeps only some block×block blocks, stored
// as a BlockSparseTensor over a [1, out/block, in/block] layout; forward and backward are the
// engine's low-level matmul ops (docs/API.md), so the layer runs on whichever backend the engine has.
//
//   forward   y  = x·Wᵀ          dds, a = x [1, 1, rows, in], b = W, transB  (op(b) = Wᵀ: [in, out])
//   backward  dx = dy·W          dds, a = dy [1, 1, rows, out], b = W
//             dW = (dyᵀ·x)|kept  sdd, a = dy (transA), b = x, layout = W's layout
//             db = Σrows dy      plain JS, float64 accumulation
import type { Engine } from '../engine.js';
import { closeSharedEngine, sharedEngine } from '../shared-engine.js';
import { errors } from '../errors.js';
import { compileLayout } from '../layouts/compile.js';
import { optionsObject } from '../layouts/args.js';
import { namesOf } from '../arg-names.js';
import type { BlockSparseTensor, Layout, Tensor } from '../types.js';
import { checkLayout, checkTensor, isPositiveInt } from '../validate.js';
import { Sfc32 } from './random.js';
import { blockSquaredNorms, gatherBlocks, keptBlockCount, randomPattern, scatterBlocks, topNormPattern } from './pattern.js';

export interface BlockSparseLinearOptions {
  inFeatures: number;
  outFeatures: number;
  /**
   * Fraction of the weight's blocks to keep, in (0, 1]: round(density · blocks), at least one
   * per block row of the weight (output features). Give this or `layout`, not both.
   */
  density?: number;
  /** The kept blocks, shape [1, outFeatures / block, inFeatures / block]. Give this or `density`. */
  layout?: Layout;
  /** Block side, 8 to 128, dividing inFeatures and outFeatures. Default 32, or `layout.block`. */
  block?: number;
  /** Learn an additive bias. Default true. */
  bias?: boolean;
  /**
   * Seeds the pattern, then the weight and bias values, from one generator (random.ts): the same
   * seed gives the same layer in every runtime (with a `layout`, it draws the values only).
   * Default: a fresh random seed (so that two layers of one shape differ, as torch.nn.Linear's
   * do), readable afterwards as `.seed`.
   */
  seed?: number | bigint;
  /**
   * Default false: the weight is uniform in ±1/sqrt(inFeatures), as torch.nn.Linear's. True scales
   * the bound by 1/sqrt(density), so each output sums over the kept fan-in (density · inFeatures)
   * with the variance a dense layer would have (pytorch_block_sparse scales by 1/sqrt(density) too,
   * when it sparsifies a dense layer).
   */
  scaleInitByDensity?: boolean;
  /** An Engine from createEngine. Default: one shared `createEngine({ backend: 'cpu' })`, made on first use. */
  engine?: Engine;
}

export interface BlockSparseLinearFromDenseOptions {
  /** Fraction of blocks to keep, in (0, 1]. Give this or `layout`. */
  density?: number;
  /** Keep exactly these blocks instead of the largest ones. */
  layout?: Layout;
  /** Default 32, or `layout.block`. */
  block?: number;
  /** [outFeatures]; omitted or null: the layer has no bias. */
  bias?: Tensor | null;
  engine?: Engine;
}

export interface BlockSparseLinearGradients {
  /** Same shape as x. */
  dx: Tensor;
  /** Only the kept blocks of dyᵀ·x, over the weight's layout: [1, nnz, block, block]. */
  dWeight: BlockSparseTensor;
  /** [outFeatures]; null for a layer without bias. */
  dBias: Tensor | null;
}

export interface BlockSparseLinearParameters {
  /** The live weight: updating its data in place updates the layer. */
  weight: BlockSparseTensor;
  /** The live bias, or null. */
  bias: Tensor | null;
}

/** What fromDense hands the constructor instead of drawing random values. */
const kInit = Symbol('blocksparse.linear.init');
interface GivenInit {
  weight: Float32Array;
  bias: Float32Array | null;
  keptEnergy: number;
}

const LINEAR_OPTIONS = namesOf<BlockSparseLinearOptions>()(['inFeatures', 'outFeatures', 'density', 'layout', 'block', 'bias', 'seed', 'scaleInitByDensity', 'engine']);
const FROM_DENSE_OPTIONS = namesOf<BlockSparseLinearFromDenseOptions>()(['density', 'layout', 'block', 'bias', 'engine']);

/** The most floats a layer's kept weight (or its layout's blocks) may hold: 4 GiB of f32, all of 32-bit Wasm memory. */
const MAX_LAYER_FLOATS = 2 ** 30;

function checkBlock(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < 8 || (v as number) > 128) throw errors.linearBlock(name, v);
  return v as number;
}

function checkFeatures(name: string, v: unknown, block: number): number {
  if (!isPositiveInt(v)) throw errors.linearFeatures(name, v);
  if (v % block !== 0) throw errors.linearFeaturesBlock(name, v, block);
  return v;
}

function checkDensity(v: unknown): number {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw errors.linearDensity(v);
  return v;
}

function checkEngine(v: unknown): Engine | null {
  if (v === undefined) return null;
  if (v === null || typeof v !== 'object' || typeof (v as Engine).matmul !== 'function') throw errors.linearEngine(v);
  return v as Engine;
}

/** Block side and kept-block source from density / layout / block, before the features are known. */
function resolveBlock(o: { density?: unknown; layout?: unknown; block?: unknown }): { block: number; layout: Layout | null } {
  if (o.layout !== undefined) {
    if (o.density !== undefined) throw errors.linearDensityAndLayout();
    const layout = checkLayout('layout', o.layout);
    checkBlock('layout.block', layout.block, 32);
    const block = checkBlock('block', o.block, layout.block);
    if (layout.block !== block) throw errors.linearLayoutBlock(layout.block, block);
    return { block, layout };
  }
  if (o.density === undefined) throw errors.linearDensityOrLayout();
  checkDensity(o.density);
  return { block: checkBlock('block', o.block, 32), layout: null };
}

/** A private copy of a given layout, data normalised to 0/1 (the engine caches tables by data identity). */
function ownLayout(layout: Layout, R: number, C: number): Layout {
  const [H, r, c] = layout.shape;
  if (H !== 1 || r !== R || c !== C) throw errors.linearLayoutShape([1, R, C], layout.shape);
  const data = new Uint8Array(R * C);
  let nnz = 0;
  for (let i = 0; i < R * C; i++) if (layout.data[i] !== 0) (data[i] = 1), nnz++;
  if (nnz === 0) throw errors.linearLayoutEmpty();
  return { block: layout.block, shape: [1, R, C], data };
}

/** x of shape [..., features]: its rows (the product of the leading dimensions) and those dimensions. */
function checkRows(name: string, t: unknown, features: number, what: string): { data: Float32Array; rows: number; lead: number[] } {
  const { data, shape } = checkTensor(name, t, `[..., ${what}] of positive integers`, 'any');
  const last = shape[shape.length - 1];
  if (last !== features) throw errors.linearLastDim(name, what, features, last);
  return { data, rows: data.length / features, lead: shape.slice(0, -1) };
}

function seedFrom(v: unknown): number | bigint {
  if (v === undefined) return Math.floor(Math.random() * 2 ** 32);
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) return v;
  throw errors.linearSeed(v);
}

/**
 * A linear layer y = x·Wᵀ + b with a block-sparse weight W [outFeatures, inFeatures]: only the
 * kept blocks are stored and multiplied. Forward and backward run on an Engine's matmul ops.
 */
export class BlockSparseLinear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly block: number;
  /** The seed of the random pattern and values; null for a layer made by fromDense. */
  readonly seed: number | bigint | null;
  /** Σ kept ‖W_blk‖² / ‖W‖² for a layer made by fromDense (1 for an all-zero W); null otherwise. */
  readonly keptEnergy: number | null;
  private readonly weightTensor: BlockSparseTensor;
  private readonly biasTensor: Tensor | null;
  private readonly engineGiven: Engine | null;

  constructor(options: BlockSparseLinearOptions) {
    if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
    optionsObject('BlockSparseLinear', options, LINEAR_OPTIONS); // a misspelt option (Bias: false) is refused, as the configs refuse it
    const o = options as BlockSparseLinearOptions & { [kInit]?: GivenInit };
    const { block, layout: given } = resolveBlock(o);
    this.outFeatures = checkFeatures('outFeatures', o.outFeatures, block);
    this.inFeatures = checkFeatures('inFeatures', o.inFeatures, block);
    this.block = block;
    const bias = o.bias === undefined ? true : o.bias;
    if (typeof bias !== 'boolean') throw errors.notBoolean('bias', bias);
    const scaleInit = o.scaleInitByDensity === undefined ? false : o.scaleInitByDensity;
    if (typeof scaleInit !== 'boolean') throw errors.notBoolean('scaleInitByDensity', scaleInit);
    this.engineGiven = checkEngine(o.engine);
    const R = this.outFeatures / block;
    const C = this.inFeatures / block;
    const init = o[kInit];
    // fromDense has drawn nothing: no seed. Otherwise one generator draws pattern, weight, bias in turn.
    const seed = init ? null : seedFrom(o.seed);
    const rng = seed === null ? null : new Sfc32(seed);
    // checked before anything of that size is made: past 2^30 floats no 32-bit Wasm memory holds the weight
    if (R * C > MAX_LAYER_FLOATS) throw errors.linearTooLarge(`its layout has ${R}×${C} blocks`, MAX_LAYER_FLOATS);
    const kept = given ? null : keptBlockCount(o.density as number, R, R * C);
    if (kept !== null && kept * block * block > MAX_LAYER_FLOATS) throw errors.linearTooLarge(`its kept weight is ${kept * block * block} floats`, MAX_LAYER_FLOATS);
    const layout = given ? ownLayout(given, R, C) : randomPattern(R, C, kept as number, block, rng as Sfc32);
    const nnz = compileLayout(layout).nnz;
    if (given && nnz * block * block > MAX_LAYER_FLOATS) throw errors.linearTooLarge(`its kept weight is ${nnz * block * block} floats`, MAX_LAYER_FLOATS);
    let weight: Float32Array;
    let biasData: Float32Array | null;
    if (init) {
      weight = init.weight;
      biasData = init.bias;
    } else {
      const r = rng as Sfc32;
      // torch.nn.Linear: kaiming_uniform_(a=√5) gives ±1/√fan_in for the weight, and the bias ±1/√fan_in
      const bound = 1 / Math.sqrt(this.inFeatures);
      const wBound = scaleInit ? bound / Math.sqrt(nnz / (R * C)) : bound;
      weight = new Float32Array(nnz * block * block);
      r.fillUniform(weight, -wBound, wBound);
      biasData = null;
      if (bias) {
        biasData = new Float32Array(this.outFeatures);
        r.fillUniform(biasData, -bound, bound);
      }
    }
    this.seed = seed;
    this.keptEnergy = init ? init.keptEnergy : null;
    this.weightTensor = { layout, data: weight, shape: [1, nnz, block, block] };
    this.biasTensor = biasData ? { data: biasData, shape: [this.outFeatures] } : null;
  }

  /**
   * Sparsifies a dense weight [outFeatures, inFeatures] (torch.nn.Linear's layout): keeps the
   * blocks of largest Frobenius norm, at least one per block row, then the rest by norm (ties by
   * index r·C + c). Kept values are copied unscaled, so the layer approximates x·Wᵀ + b directly.
   */
  static fromDense(weight: Tensor, options: BlockSparseLinearFromDenseOptions): BlockSparseLinear {
    const w = checkTensor('weight', weight, '[outFeatures, inFeatures]');
    if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
    optionsObject('BlockSparseLinear.fromDense', options, FROM_DENSE_OPTIONS);
    const { block, layout: given } = resolveBlock(options);
    const [out, inF] = w.shape;
    checkFeatures('weight.shape[0] (outFeatures)', out, block);
    checkFeatures('weight.shape[1] (inFeatures)', inF, block);
    let bias: Float32Array | null = null;
    if (options.bias !== undefined && options.bias !== null) {
      const b = checkTensor('bias', options.bias, '[outFeatures]');
      if (b.shape[0] !== out) throw errors.mismatch('bias', 'shape[0] (outFeatures)', out, b.shape[0]);
      bias = b.data.slice();
    }
    const R = out / block;
    const C = inF / block;
    let layout: Layout;
    // the kept energy and the choice by norm are sums over every block: one NaN spoils them
    for (let i = 0; i < w.data.length; i++) {
      if (!Number.isFinite(w.data[i])) throw errors.linearNotFinite('weight', i, w.data[i]);
    }
    const norms = blockSquaredNorms(w.data, R, C, block);
    if (given) layout = ownLayout(given, R, C);
    else layout = topNormPattern(norms, R, C, keptBlockCount(options.density as number, R, R * C), block);
    let kept = 0;
    let total = 0;
    for (let i = 0; i < R * C; i++) {
      total += norms[i];
      if (layout.data[i] !== 0) kept += norms[i];
    }
    const init: GivenInit = { weight: gatherBlocks(w.data, layout), bias, keptEnergy: total === 0 ? 1 : kept / total };
    const opts: BlockSparseLinearOptions & { [kInit]: GivenInit } = {
      inFeatures: inF, outFeatures: out, layout, block, bias: bias !== null, engine: options.engine, [kInit]: init,
    };
    return new BlockSparseLinear(opts);
  }

  /** The shared engine (`createEngine({ backend: 'cpu' })`) layers use by default, closed; a later call makes a new one. */
  static closeSharedEngine(): Promise<void> {
    return closeSharedEngine();
  }

  private engine(): Promise<Engine> {
    return this.engineGiven ? Promise.resolve(this.engineGiven) : sharedEngine();
  }

  /** y = x·Wᵀ + b for x [..., inFeatures] → [..., outFeatures]: one dds matmul, then the bias. */
  async forward(x: Tensor): Promise<Tensor> {
    const { data, rows, lead } = checkRows('x', x, this.inFeatures, 'inFeatures');
    const engine = await this.engine();
    const y = await engine.matmul({ mode: 'dds', a: { data, shape: [1, 1, rows, this.inFeatures] }, b: this.weightTensor, transB: true });
    if (this.biasTensor) {
      const b = this.biasTensor.data;
      const out = this.outFeatures;
      const yd = y.data;
      for (let r = 0, o = 0; r < rows; r++, o += out) for (let j = 0; j < out; j++) yd[o + j] += b[j];
    }
    return { data: y.data, shape: [...lead, this.outFeatures] };
  }

  /**
   * Gradients of a loss L given x and dy = ∂L/∂y [..., outFeatures]: dx = dy·W, dWeight = the kept
   * blocks of dyᵀ·x (rows summed over every leading dimension), dBias = Σ over rows of dy.
   */
  async backward(x: Tensor, dy: Tensor): Promise<BlockSparseLinearGradients> {
    const xs = checkRows('x', x, this.inFeatures, 'inFeatures');
    const ds = checkRows('dy', dy, this.outFeatures, 'outFeatures');
    if (ds.lead.length !== xs.lead.length || ds.lead.some((d, i) => d !== xs.lead[i])) {
      throw errors.linearSameLeading('dy', [...xs.lead, this.outFeatures], dy.shape);
    }
    const rows = xs.rows;
    const engine = await this.engine();
    const dy4 = { data: ds.data, shape: [1, 1, rows, this.outFeatures] };
    const x4 = { data: xs.data, shape: [1, 1, rows, this.inFeatures] };
    const [dx, dWeight] = await Promise.all([
      engine.matmul({ mode: 'dds', a: dy4, b: this.weightTensor }),
      engine.matmul({ mode: 'sdd', a: dy4, b: x4, layout: this.weightTensor.layout, transA: true }),
    ]);
    let dBias: Tensor | null = null;
    if (this.biasTensor) {
      const out = this.outFeatures;
      const sums = new Float64Array(out);
      const d = ds.data;
      for (let r = 0, o = 0; r < rows; r++, o += out) for (let j = 0; j < out; j++) sums[j] += d[o + j];
      dBias = { data: Float32Array.from(sums), shape: [out] };
    }
    return { dx: { data: dx.data, shape: [...xs.lead, this.inFeatures] }, dWeight, dBias };
  }

  /** W as a dense [outFeatures, inFeatures] tensor, zeros outside the kept blocks. */
  toDense(): Tensor {
    return { data: scatterBlocks(this.weightTensor.data, this.weightTensor.layout), shape: [this.outFeatures, this.inFeatures] };
  }

  /** The live weight and bias (see BlockSparseLinearParameters). */
  parameters(): BlockSparseLinearParameters {
    return { weight: this.weightTensor, bias: this.biasTensor };
  }

  get weight(): BlockSparseTensor {
    return this.weightTensor;
  }

  get bias(): Tensor | null {
    return this.biasTensor;
  }

  /** The kept blocks [1, outFeatures / block, inFeatures / block]; the layer's own copy, to be treated as immutable. */
  get layout(): Layout {
    return this.weightTensor.layout;
  }

  /** Kept blocks. */
  get nnz(): number {
    return this.weightTensor.shape[1];
  }

  /** Kept blocks divided by all blocks: what the layer actually keeps, after rounding. */
  get density(): number {
    return this.nnz / ((this.outFeatures / this.block) * (this.inFeatures / this.block));
  }

  /** Bytes of the stored weight (kept blocks only, f32). */
  get weightBytes(): number {
    return this.weightTensor.data.byteLength;
  }

  /** Bytes a dense f32 weight of the same shape would take. */
  get denseWeightBytes(): number {
    return 4 * this.outFeatures * this.inFeatures;
  }
}
