// Phi-3-small's block-sparse pattern, ported from the model's own code: `_get_sparse_attn_mask` in
// triton_flash_blocksparse_attn.py of microsoft/Phi-3-small-8k-instruct (the same function is
// `get_sparse_attn_mask` in vLLM's vllm/attention/ops/blocksparse_attention/utils.py). Causal at
// block level; block row r of head h keeps block column c where
//   r >= c  and  (r - c < numLocalBlocks  or  (c + h·headSlidingStep + 1) % verticalStride == 0)
// so the last numLocalBlocks blocks (its own included) plus every verticalStride-th column, the
// columns shifted by headSlidingStep per head so that the heads together cover every column.
// The model: block 64, 16 local blocks, vertical stride 8, heterogeneous heads (homo_head false),
// the pattern over all 32 query heads (head_sliding_step = max(1, int(8 / 32)) = 1), and every
// second layer dense (dense_attention_every_n_layers 2: layer i, from 0, is dense when (i + 1) % 2 == 0).
import { errors } from '../errors.js';
import type { Layout } from '../types.js';
import { bool, nonNegativeInt, optionsObject, positiveInt } from './args.js';
import { SparsityConfig, zeroLayout } from './base.js';

export interface Phi3SmallSparsityConfigOptions {
  /** Query heads of the layer (the model: 32). Required. */
  numHeads: number;
  /** Tokens per block side (blocksparse_block_size). Default 64. */
  block?: number;
  /** Blocks of the local window, the row's own block included (blocksparse_num_local_blocks). Default 16. */
  numLocalBlocks?: number;
  /** Every verticalStride-th block column is kept (blocksparse_vert_stride). Default 8. */
  verticalStride?: number;
  /** One pattern for every head (blocksparse_homo_head_pattern). Default false. */
  homoHead?: boolean;
  /**
   * Column shift from one head to the next. Default the model's `max(1, int(verticalStride / numHeads))`
   * (0 with homoHead). Set it to build fewer heads of a larger model's pattern, e.g. the period
   * verticalStride for ONNX Runtime's cyclic layouts (head h uses layout h % numLayouts).
   */
  headSlidingStep?: number;
}

const KNOWN = ['numHeads', 'block', 'numLocalBlocks', 'verticalStride', 'homoHead', 'headSlidingStep'] as const;

export class Phi3SmallSparsityConfig extends SparsityConfig {
  readonly kind = 'Phi3SmallSparsityConfig';
  readonly numLocalBlocks: number;
  readonly verticalStride: number;
  readonly homoHead: boolean;
  readonly headSlidingStep: number;

  constructor(options: Phi3SmallSparsityConfigOptions) {
    super(baseOptions(options), 'Phi3SmallSparsityConfig');
    this.numLocalBlocks = nonNegativeInt('numLocalBlocks', options.numLocalBlocks ?? 16);
    this.verticalStride = positiveInt('verticalStride', options.verticalStride ?? 8);
    this.homoHead = !this.differentLayoutPerHead;
    if (this.homoHead) {
      if (nonNegativeInt('headSlidingStep', options.headSlidingStep ?? 0) !== 0) {
        throw errors.headSlidingStepHomo(options.headSlidingStep);
      }
      this.headSlidingStep = 0;
    } else {
      this.headSlidingStep = nonNegativeInt(
        'headSlidingStep',
        options.headSlidingStep ?? Math.max(1, Math.trunc(this.verticalStride / this.numHeads)),
      );
    }
  }

  /** The layout of `seqLen` tokens, any length: [numHeads, ceil(seqLen / block), ceil(seqLen / block)]. */
  makeLayout(seqLen: number): Layout {
    const nb = Math.ceil(positiveInt('seqLen', seqLen) / this.block);
    const layout = zeroLayout(this.numHeads, nb, this.block);
    const { numLocalBlocks: local, verticalStride: stride, headSlidingStep: step } = this;
    for (let h = 0; h < this.numLayoutHeads; h++) {
      for (let r = 0; r < nb; r++) {
        const base = (h * nb + r) * nb;
        for (let c = 0; c <= r; c++) {
          if (r - c < local || (c + h * step + 1) % stride === 0) layout.data[base + c] = 1;
        }
      }
    }
    return this.checkAndPropagateFirstHeadLayout(layout);
  }
}

/** The base class's options: block defaults to 64, and homoHead is the inverse of differentLayoutPerHead. */
function baseOptions(options: Phi3SmallSparsityConfigOptions) {
  const o = optionsObject('Phi3SmallSparsityConfig', options, KNOWN);
  return { numHeads: o.numHeads as number, block: (o.block ?? 64) as number, differentLayoutPerHead: !bool('homoHead', o.homoHead ?? false) };
}
