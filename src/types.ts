// The public data types of docs/API.md. Shared by the CPU backend and gpu/.

/** A dense, row-major, contiguous f32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
  /** float32 (the default); see Float16Tensor. */
  dtype?: 'float32';
}

/** What a tensor's values are: float32, or IEEE half floats (API.md "Float16 storage"). */
export type Dtype = 'float32' | 'float16';

/**
 * The runtime's Float16Array (ES2025: Deno, Bun, browsers), described by its shape so that these
 * types need no TypeScript lib that declares it.
 */
export interface Float16ArrayLike extends ArrayLike<number> {
  readonly [Symbol.toStringTag]: 'Float16Array';
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/**
 * A dense, row-major tensor of IEEE half floats: their bits in a Uint16Array (toFloat16 makes them),
 * or a Float16Array. Taken for q, k, v and dout, by upload and by a float16 KV cache; results come
 * back in the inputs' dtype and array type.
 */
export interface Float16Tensor {
  data: Uint16Array | Float16ArrayLike;
  shape: number[];
  dtype: 'float16';
}

/** The host tensor of a dtype. */
export type TensorOf<D extends Dtype> = D extends 'float16' ? Float16Tensor : Tensor;

/**
 * A dense tensor held by an engine's backend between calls: a GPU buffer on WebGPU, a private copy
 * on the CPU. Made by `engine.upload(tensor)` or by `keepOnDevice: true`; accepted wherever
 * attention and attentionBackward take q, k, v or dout, on the engine that made it.
 */
export interface DeviceTensor<D extends Dtype = 'float32'> {
  readonly shape: readonly number[];
  /** The dtype it was made with; read() gives it back in that dtype (and array type). */
  readonly dtype: D;
  /** The backend whose memory holds it. */
  readonly backend: BackendName;
  /** True after destroy() or after its engine closed. */
  readonly destroyed: boolean;
  /** Copies the data back into a new Tensor. */
  read(): Promise<TensorOf<D>>;
  /** Frees its memory now (it is also freed when its engine closes); later use throws. */
  destroy(): void;
}

/** q, k, v and dout: a Tensor (float32 or float16), or a DeviceTensor of the same engine; one dtype in a call. */
export type TensorInput = Tensor | Float16Tensor | DeviceTensor<Dtype>;

/** A float16 q (a Float16Tensor or a float16 DeviceTensor): the results are float16 too. */
export type Float16Input = Float16Tensor | DeviceTensor<'float16'>;

/** `data[(h*R + r)*C + c]` is 1 where block row r of head h attends to block column c. */
export interface Layout {
  block: number;
  shape: [number, number, number];
  data: Uint8Array;
}

/** One layout per batch row, for attention: `data[((b*H + h)*R + r)*C + c]`. */
export interface BatchedLayout {
  block: number;
  shape: [number, number, number, number];
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

/** The arguments of attention other than its keys and values (AttentionArgs, KvAttentionArgs). */
export interface AttentionQueryArgs extends ScoreOptions {
  /** [B, Hq, N, D]. */
  q: TensorInput;
  /**
   * [Hl, R, C], or [B, Hl, R, C] for one layout per batch row: query head h reads layout head
   * h % Hl (Hl divides Hq; Hl = 1 for all heads), and a layout larger than the sequence is read
   * top-left (R·block ≥ qOffset + Nq, C·block ≥ Nk).
   */
  layout: Layout | BatchedLayout | DeviceLayout;
  /** Int32Array [B]: batch row b has keys 0 … keyLengths[b] − 1, the rest are masked. Default Nk. */
  keyLengths?: Int32Array;
  /**
   * Absolute position of q's row 0 (queries at qOffset … qOffset + Nq − 1 against keys 0 … Nk − 1):
   * a number or an Int32Array [B]; default keyLengths[b] − Nq, or Nk − Nq without keyLengths (the
   * queries are the last positions). Below 0, given or by default, is a RangeError.
   */
  qOffset?: number | Int32Array;
  /** Default 1/sqrt(D). */
  scale?: number;
  /** Return DeviceTensors that stay in the backend's memory instead of Tensors (default false). */
  keepOnDevice?: boolean;
  /**
   * attention resolves to { out, lse } (AttentionWithLse), lse [B, Hq, N] the natural-log
   * log-sum-exp of each row's scores (−Infinity for a row with nothing left). Default false.
   * attentionBackward ignores it.
   */
  returnLse?: boolean;
}

export interface AttentionArgs extends AttentionQueryArgs {
  /** k and v [B, Hkv, N, D], Hkv dividing Hq (GQA, MQA): query head h reads kv head floor(h / (Hq / Hkv)). */
  k: TensorInput;
  v: TensorInput;
  kv?: undefined;
}

/**
 * attention over a KV cache: as AttentionArgs with k, v = the cache's first `kv.length` tokens
 * (qOffset then defaults to kv.length − Nq, keyLengths[b] ≤ kv.length).
 */
export interface KvAttentionArgs extends AttentionQueryArgs {
  kv: KvCache;
  k?: undefined;
  v?: undefined;
}

/** engine.createKvCache's options. */
export interface KvCacheOptions {
  /** Batch rows (B). */
  batch: number;
  /** Key/value heads (Hkv). */
  kvHeads: number;
  /** Head dimension (D). */
  headDim: number;
  /** Tokens it can hold. */
  capacity: number;
  /** What it stores and append takes: 'float32' (the default) or 'float16'. */
  dtype?: Dtype;
  /**
   * Keep per-block key summaries (the mean, min and max of the keys of each block of this many
   * positions, per batch row and kv head), updated by every append, that selectBlocks over the
   * cache reads instead of the keys. Default: none.
   */
  summaryBlock?: number;
}

/**
 * Keys and values held by an engine's backend (Wasm memory on the CPU, GPU buffers on WebGPU),
 * appended token by token, for decoding: `engine.attention({ q, kv: cache, … })` attends over its
 * first `length` tokens without sending them again.
 */
export interface KvCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly capacity: number;
  readonly dtype: Dtype;
  /** The block of its key summaries (KvCacheOptions.summaryBlock), or null. */
  readonly summaryBlock: number | null;
  /** The backend whose memory holds it. */
  readonly backend: BackendName;
  /** Tokens held: positions 0 … length − 1 of every batch row. */
  readonly length: number;
  /** True after destroy() or after its engine closed. */
  readonly destroyed: boolean;
  /**
   * Appends n tokens, k and v [batch, kvHeads, n, headDim] (Tensors or DeviceTensors of the same
   * engine), at positions length … length + n − 1. Past capacity it rejects with a RangeError and
   * the cache is unchanged.
   */
  append(tokens: { k: TensorInput; v: TensorInput }): Promise<void>;
  /** Forgets every token (length 0), those of appends under way too; the memory stays. */
  reset(): void;
  /** Frees its memory now (it is also freed when its engine closes); later use throws. */
  destroy(): void;
}

/** attention's result with `returnLse: true`. */
export interface AttentionWithLse<D extends Dtype = 'float32'> {
  out: TensorOf<D>;
  /** [B, Hq, N], float32 whatever the inputs' dtype. */
  lse: Tensor;
}

/** attention's result with `returnLse: true` and `keepOnDevice: true`: lse is a host Tensor (it is small, and read by the caller's merge code). */
export interface DeviceAttentionWithLse<D extends Dtype = 'float32'> {
  out: DeviceTensor<D>;
  lse: Tensor;
}

export interface AttentionBackwardArgs extends AttentionArgs {
  dout: TensorInput;
}

/** dq [B, Hq, N, D]; dk, dv [B, Hkv, N, D], summed over the query heads that share a kv head. */
export interface AttentionGradients<D extends Dtype = 'float32'> {
  dq: TensorOf<D>;
  dk: TensorOf<D>;
  dv: TensorOf<D>;
}

/** attentionBackward's result with `keepOnDevice: true`. */
export interface DeviceAttentionGradients<D extends Dtype = 'float32'> {
  dq: DeviceTensor<D>;
  dk: DeviceTensor<D>;
  dv: DeviceTensor<D>;
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

/** selectBlocks' `keep`: blocks kept whatever their score, within the allowed columns. */
export interface SelectBlocksKeep {
  /** The block c = r. */
  diagonal?: boolean;
  /** Leading block columns. */
  first?: number;
  /** Block columns just before the diagonal (r − local … r − 1). */
  local?: number;
}

/**
 * engine.selectBlocks (API.md "Content-based layouts"): a layout [B, Hq, R, C] chosen from pooled
 * query and key blocks, by topK or threshold (exactly one), over keys k or a KV cache kv (exactly one).
 */
export interface SelectBlocksArgs {
  /** [B, Hq, Nq, D]. */
  q: TensorInput;
  /** [B, Hkv, Nk, D], Hkv dividing Hq. */
  k?: TensorInput;
  /** A KV cache of this engine in place of k: its first `length` keys (Nk = kv.length). */
  kv?: KvCache;
  /** Positions per block, rows and columns; over a cache, default its summaryBlock. */
  block?: number;
  /** 'mean' (default): pooled q · pooled k; 'bound': Σ_d max(qp_d·kmin_d, qp_d·kmax_d), an upper bound of q·k in the block. */
  score?: 'mean' | 'bound';
  /** Keep the topK highest-scored allowed blocks per block row (ties: the lower column). */
  topK?: number;
  /** In (0, 1]: keep the fewest highest-scored blocks whose softmax mass over the allowed blocks reaches it. */
  threshold?: number;
  causal?: boolean;
  /** As attention's (default keyLengths[b] − Nq). */
  qOffset?: number | Int32Array;
  /** Int32Array [B], each in [1, Nk]. */
  keyLengths?: Int32Array;
  /** Of the pooled scores; default 1/sqrt(D). */
  scale?: number;
  keep?: SelectBlocksKeep;
  /** Resolve to a DeviceLayout held by the backend (default false). */
  keepOnDevice?: boolean;
}

/**
 * A layout held in the backend's memory (selectBlocks with keepOnDevice), which attention,
 * attentionMass and attentionBackward on the same engine accept in place of a Layout (WebGPU's
 * forward reads it in GPU memory; the backward reads it back once).
 */
export interface DeviceLayout {
  readonly block: number;
  /** [B, Hq, R, C]. */
  readonly shape: readonly [number, number, number, number];
  readonly backend: BackendName;
  /** True after destroy() or after its engine closed. */
  readonly destroyed: boolean;
  /** The host Layout. */
  read(): Promise<BatchedLayout>;
  destroy(): void;
}

/** engine.attentionMass: the share of each row's dense softmax mass that a layout keeps. */
export interface AttentionMassArgs {
  /** [B, Hq, Nq, D]. */
  q: TensorInput;
  /** [B, Hkv, Nk, D]. */
  k: TensorInput;
  layout: Layout | BatchedLayout | DeviceLayout;
  causal?: boolean;
  qOffset?: number | Int32Array;
  keyLengths?: Int32Array;
  scale?: number;
}
