// DeepSpeed's SparseSelfAttention module (deepspeed/ops/sparse_attention/sparse_self_attention.py):
// a sparsity config's master layout for maxSeqLength, the layout of each shorter length its
// top-left crop, and the fused attention over it. DeepSpeed builds matmul and softmax ops per
// length and caches them; here the engine reads the master layout top-left itself and caches each
// crop with its compiled tables (src/layouts/fit.ts), so a length costs its tables once. DeepSpeed
// refuses a length that is not a multiple of the block (its pad_to_block_size pads by hand); here
// any length up to maxSeqLength is passed on, for the backend to take (a partial last block).
import type { Engine } from './engine.js';
import { errors } from './errors.js';
import type { SparsityConfig } from './layouts/base.js';
import { fitLayout } from './layouts/fit.js';
import { optionsObject, positiveInt } from './layouts/args.js';
import { closeSharedEngine, sharedEngine } from './shared-engine.js';
import type { AttentionGradients, AttnMaskMode, KeyPaddingMaskMode, Layout, Tensor } from './types.js';
import { checkBoolean, checkChoice } from './validate.js';

export interface SparseSelfAttentionOptions {
  /** The pattern (any SparsityConfig); its numHeads layout heads serve query heads h % numHeads. */
  sparsityConfig: SparsityConfig;
  /** 'add' (default) or 'mul', as DeepSpeed. */
  keyPaddingMaskMode?: KeyPaddingMaskMode;
  /** 'mul' (default) or 'add', as DeepSpeed. */
  attnMaskMode?: AttnMaskMode;
  /** The longest sequence the module takes; it sizes the master layout. Default 2048, as DeepSpeed. */
  maxSeqLength?: number;
  /** Default: one shared `createEngine({ backend: 'cpu' })`, made on first use. */
  engine?: Engine;
}

/** What one call takes beside q, k and v (DeepSpeed's forward arguments, and causal). */
export interface SparseSelfAttentionInputs {
  /** [B, H, N, N], added to the scaled scores. */
  rpe?: Tensor;
  /** [B, N], in keyPaddingMaskMode. */
  keyPaddingMask?: Tensor;
  /** [N, N], in attnMaskMode. */
  attnMask?: Tensor;
  /** Token-level causal mask inside the kept blocks (default false; DeepSpeed's unidirectional layouts are block-level). */
  causal?: boolean;
}

const OPTIONS = ['sparsityConfig', 'keyPaddingMaskMode', 'attnMaskMode', 'maxSeqLength', 'engine'] as const;

export class SparseSelfAttention {
  readonly sparsityConfig: SparsityConfig;
  readonly keyPaddingMaskMode: KeyPaddingMaskMode;
  readonly attnMaskMode: AttnMaskMode;
  readonly maxSeqLength: number;
  /** sparsityConfig.makeLayout of maxSeqLength rounded up to the block (DeepSpeed's master_layout). */
  readonly masterLayout: Layout;
  private readonly engineGiven: Engine | null;

  constructor(options: SparseSelfAttentionOptions) {
    const o = optionsObject('SparseSelfAttention', options, OPTIONS);
    const config = o.sparsityConfig as SparsityConfig | undefined;
    if (!config || typeof (config as { makeLayout?: unknown }).makeLayout !== 'function') throw errors.notSparsityConfig(config);
    this.sparsityConfig = config;
    this.keyPaddingMaskMode = checkChoice('keyPaddingMaskMode', o.keyPaddingMaskMode, ['add', 'mul'] as const, 'add');
    this.attnMaskMode = checkChoice('attnMaskMode', o.attnMaskMode, ['add', 'mul'] as const, 'mul');
    this.maxSeqLength = positiveInt('maxSeqLength', o.maxSeqLength ?? 2048);
    const block = config.block;
    this.masterLayout = config.makeLayout(Math.ceil(this.maxSeqLength / block) * block);
    const engine = o.engine as Engine | undefined;
    if (engine !== undefined && (engine === null || typeof engine.attention !== 'function')) throw errors.notEngine('engine', engine);
    this.engineGiven = engine ?? null;
  }

  /** The layout a sequence of seqLen reads: the master layout's top-left ceil(seqLen / block) blocks. */
  layoutFor(seqLen: number): Layout {
    const n = this.checkLength('seqLen', seqLen);
    const R = Math.ceil(n / this.sparsityConfig.block);
    return fitLayout(this.masterLayout, this.masterLayout.shape[0], R, R) as Layout;
  }

  /** Attention of query over key and value, each [B, H, N, D] with N ≤ maxSeqLength; → [B, H, N, D]. */
  async forward(query: Tensor, key: Tensor, value: Tensor, inputs: SparseSelfAttentionInputs = {}): Promise<Tensor> {
    const engine = await this.engine();
    return engine.attention(this.args(query, key, value, inputs));
  }

  /** dq, dk, dv of Σ out∘dout, for the same arguments as forward. */
  async backward(query: Tensor, key: Tensor, value: Tensor, dout: Tensor, inputs: SparseSelfAttentionInputs = {}): Promise<AttentionGradients> {
    const engine = await this.engine();
    return engine.attentionBackward({ ...this.args(query, key, value, inputs), dout });
  }

  /** The shared engine modules use by default, closed (the same as BlockSparseLinear's). */
  static closeSharedEngine(): Promise<void> {
    return closeSharedEngine();
  }

  private args(query: Tensor, key: Tensor, value: Tensor, inputs: SparseSelfAttentionInputs) {
    const shape = (query as Tensor | undefined)?.shape;
    if (Array.isArray(shape) && shape.length === 4) this.checkLength('query.shape[2]', shape[2]);
    // self-attention only, as DeepSpeed's module: keys of another length would run as cross-attention
    const keyShape = (key as Tensor | undefined)?.shape;
    if (Array.isArray(shape) && shape.length === 4 && Array.isArray(keyShape) && keyShape.length === 4 && keyShape[2] !== shape[2]) {
      throw errors.mismatch('key', 'shape[2] (N: SparseSelfAttention is self-attention)', shape[2], keyShape[2]);
    }
    const i = optionsObject('SparseSelfAttention inputs', inputs, ['rpe', 'keyPaddingMask', 'attnMask', 'causal']);
    return {
      q: query, k: key, v: value, layout: this.masterLayout, qOffset: 0,
      rpe: i.rpe as Tensor | undefined, keyPaddingMask: i.keyPaddingMask as Tensor | undefined, attnMask: i.attnMask as Tensor | undefined,
      keyPaddingMaskMode: this.keyPaddingMaskMode, attnMaskMode: this.attnMaskMode, causal: checkBoolean('causal', i.causal),
    };
  }

  private checkLength(name: string, n: unknown): number {
    const len = positiveInt(name, n);
    if (len > this.maxSeqLength) throw errors.pastMaxSeqLength(name, this.maxSeqLength, len);
    return len;
  }

  private engine(): Promise<Engine> {
    return this.engineGiven ? Promise.resolve(this.engineGiven) : sharedEngine();
  }
}
