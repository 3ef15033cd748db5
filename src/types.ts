// The public data types of ../shared/API.md. Shared by the CPU backend and gpu/.

/** A dense, row-major, contiguous f32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** `data[(h*R + r)*C + c]` is 1 where block row r of head h attends to block column c. */
export interface Layout {
  block: number;
  shape: [number, number, number];
  data: Uint8Array;
}

/** Only the kept blocks, in the order of the layout's non-zeros (head, row, column), as DeepSpeed stores them. */
export interface BlockSparseTensor {
  layout: Layout;
  data: Float32Array;
  shape: [number, number, number, number];
}

export type MaskMode = 'add' | 'mul';
export type KeyPaddingMaskMode = MaskMode;
export type AttnMaskMode = MaskMode;
export type BackendName = 'cpu' | 'webgpu';
export type BackendChoice = BackendName | 'auto';
export type MatmulMode = 'sdd' | 'dsd' | 'dds';

/** What attention and softmax apply to the scores, in DeepSpeed's order: scale, rpe, masks, causal. */
export interface ScoreOptions {
  scale?: number;
  /** Token-level causal mask inside the kept blocks. */
  causal?: boolean;
  /** [B, H, N, N], added to the scaled scores. */
  rpe?: Tensor;
  /** [B, N]; mode 'add' by default. */
  keyPaddingMask?: Tensor;
  keyPaddingMaskMode?: KeyPaddingMaskMode;
  /** [N, N]; mode 'mul' by default. */
  attnMask?: Tensor;
  attnMaskMode?: AttnMaskMode;
}

export interface AttentionArgs extends ScoreOptions {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  layout: Layout;
  /** Default 1/sqrt(D). */
  scale?: number;
}

export interface AttentionBackwardArgs extends AttentionArgs {
  dout: Tensor;
}

export interface AttentionGradients {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

export type MatmulArgs =
  | { mode: 'sdd'; a: Tensor; b: Tensor; layout: Layout; transA?: boolean; transB?: boolean }
  | { mode: 'dsd'; a: BlockSparseTensor; b: Tensor; transA?: boolean; transB?: boolean }
  | { mode: 'dds'; a: Tensor; b: BlockSparseTensor; transA?: boolean; transB?: boolean };

export interface SoftmaxArgs extends ScoreOptions {
  x: BlockSparseTensor;
  /** Default 1, as DeepSpeed's Softmax. */
  scale?: number;
}

export interface SoftmaxBackwardArgs {
  /** The softmax output. */
  y: BlockSparseTensor;
  dy: BlockSparseTensor;
  /** Default 1. */
  scale?: number;
}
