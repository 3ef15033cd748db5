// The one interface both backends implement (onnxruntime-web's Backend). The engine validates and
// normalises every call first, so a backend trusts its input: shapes agree, masks are additive
// (a 'mul' mask already turned into 0 / -Infinity), scale is a finite number.
import type { CompiledLayout } from './layouts/compile.js';
import type { SelectedRows } from './layouts/selected-layout.js';
import type { BackendName, Dtype } from './types.js';

/** What is applied to the scores, resolved: scale given, masks additive (0 or −∞ for 'mul' ones). */
export interface ScoreTerms {
  scale: number;
  causal: boolean;
  /** [B, H, rows, cols] or null. */
  rpe: Float32Array | null;
  /** [B, cols], additive, or null. */
  keyPadding: Float32Array | null;
  /** [rows, cols], additive, or null. */
  attnMask: Float32Array | null;
}

/**
 * Host data as a backend receives it: float32, or the half-float bits of float16 data where the
 * backend stores float16 (Backend.storesFloat16); else the engine gives it float16 data widened.
 */
export type HostData = Float32Array | Uint16Array;

/**
 * Dense data a backend holds between calls (engine.upload, keepOnDevice): rows of `rowLength`
 * floats, as the tensor's last dimension. Only the backend that made it reads it.
 */
export interface ResidentData {
  readonly length: number;
  readonly rowLength: number;
  readonly destroyed: boolean;
  /** 'float16' where the backend stores half floats (read() gives their bits); absent: float32. */
  readonly dtype?: Dtype;
  read(): Promise<HostData>;
  destroy(): void;
}

/**
 * A KV cache's memory on a backend (engine.createKvCache): k and v [B, Hkv, capacity, D] each, which
 * attention reads in place (p.k, p.v with kvStride = capacity). The engine keeps the length and
 * checks every append; the backend only writes.
 */
export interface KvCacheData {
  readonly k: ResidentData;
  readonly v: ResidentData;
  readonly destroyed: boolean;
  /** 'float16' where the backend holds the tokens as half floats (write takes their bits); absent: float32. */
  readonly dtype?: Dtype;
  /**
   * Writes n tokens, k and v [B, Hkv, n, D] (host data or data this backend holds), at positions
   * at … at + n − 1 of every kv head. Ordered with the backend's calls as they were made: a call
   * made after write starts reads the tokens written.
   */
  write(k: OperandData, v: OperandData, at: number, n: number): Promise<void>;
  /** Where the cache was made with a summary block (KvSummaryData); write keeps them current. */
  readonly summaries?: KvSummaryData;
  destroy(): void;
}

/**
 * A KV cache's key summaries (createKvCache's summaryBlock): per (b, kv head) and key block c of
 * `block` positions, the elementwise mean, min and max of the keys it holds, each float32
 * [B·Hkv, blocks, D], blocks ≥ ceil(capacity / block) (WebGPU pads it to its score tile). write recomputes those of the blocks it
 * touched from the keys held (nothing accumulates, so a reset needs nothing), the mean summed as
 * selectBlocks pools keys: the same bits.
 */
export interface KvSummaryData {
  readonly block: number;
  readonly blocks: number;
  readonly mean: ResidentData;
  readonly min: ResidentData;
  readonly max: ResidentData;
}

/** An operand as a backend receives it: host data, or data it already holds. */
export type OperandData = HostData | ResidentData;

/**
 * Fused attention over flat data: q (and out, dout, dq) [B, H, N, D], k and v (and dk, dv)
 * [B, Hkv, Nk, D], H a multiple of Hkv: query head h reads kv head floor(h / (H / Hkv)) (GQA, MQA;
 * Hkv = H is multi-head attention). The layout is fitted to the call (src/layouts/fit.ts): one
 * layout head per query head, [H, R, C] shared by the batch rows or [B, H, R, C], R covering
 * max(qOffset) + N and C covering Nk. Masks: rpe [B, H, N, Nk], keyPadding [B, Nk] (keyLengths
 * folded in), attnMask [N, Nk]. The self-attention case: Nk = N, qOffset all 0, N a multiple of the
 * block, a shared layout: what both backends run on their fast paths (beyondSelfAttention).
 */
export interface AttentionProblem<T extends OperandData = Float32Array> extends ScoreTerms {
  B: number;
  /** Query heads (Hq). */
  H: number;
  /** Key/value heads; divides H. */
  Hkv: number;
  /** Query rows (Nq): q, out, dout, dq are [B, H, N, D]. Need not be a multiple of the block. */
  N: number;
  /** Keys: k, v, dk, dv are [B, Hkv, Nk, D]. Need not be a multiple of the block. */
  Nk: number;
  /**
   * [B]: absolute position of q's row 0 per batch row. Query row i of batch row b sits at
   * qOffset[b] + i, in layout block row floor((qOffset[b] + i) / block); key j at j, in block
   * column floor(j / block); causal keeps j ≤ qOffset[b] + i.
   */
  qOffset: Int32Array;
  D: number;
  q: T;
  k: T;
  v: T;
  /**
   * Rows between consecutive kv heads in k and v: kv head (b, g)'s key j is row (b·Hkv + g)·kvStride + j.
   * Nk for k, v tensors; a KV cache's capacity (its tokens past Nk are not read).
   */
  kvStride: number;
  layout: CompiledLayout;
  /** Return ResidentData instead of Float32Arrays. */
  keepOnDevice?: boolean;
  /** The caller asked for the rows' log-sum-exp too: the engine calls attentionWithLse. */
  returnLse?: boolean;
  /**
   * A layout this backend holds (selectBlocksResident), read in place of `layout`, which it then
   * ignores: [B, H, R, C] over this call's B and H, R and C covering the rows and keys as a fitted
   * layout does. The forward only (attention, attentionWithLse), whole (never in parts).
   */
  residentLayout?: ResidentLayoutData;
}

/**
 * A selected layout [B, H, R, C] in a backend's memory (selectBlocks with keepOnDevice), in the
 * form its attention reads; read() gives its bytes (as selectBlocks returns them).
 */
export interface ResidentLayoutData {
  readonly block: number;
  readonly shape: readonly [B: number, H: number, R: number, C: number];
  /** The most blocks one block row keeps, or a bound on it (a topK selection's: topK and its keeps). */
  readonly maxRowBlocks: number;
  readonly destroyed: boolean;
  read(): Promise<Uint8Array>;
  destroy(): void;
}

/** attentionWithLse's result: out as attention's, lse [B, H, N] on the host (natural log, −∞ for an empty row). */
export interface AttentionLseData<T extends OperandData = OperandData> {
  out: T;
  lse: Float32Array;
}

export interface AttentionBackwardProblem<T extends OperandData = Float32Array> extends AttentionProblem<T> {
  dout: T;
}

/** dq [B, H, N, D]; dk, dv [B, Hkv, Nk, D], summed over the query heads that share a kv head. */
export interface AttentionGradientData<T extends OperandData = Float32Array> {
  dq: T;
  dk: T;
  dv: T;
}

/**
 * C = op(A) · op(B) for each of B·H batch-heads, where op transposes when asked. Dense operands
 * are [B, H, rows, cols] of their stored (untransposed) shape; the sparse operand is
 * [B, nnz, block, block] over `layout`, which describes its stored (untransposed) matrix.
 * - sdd: dense × dense → sparse C over `layout` ([H, M/block, N/block])
 * - dsd: sparse A × dense B → dense C [B, H, M, N]
 * - dds: dense A × sparse B → dense C [B, H, M, N]
 */
export interface MatmulProblem {
  mode: 'sdd' | 'dsd' | 'dds';
  B: number;
  H: number;
  /** Rows of op(A), columns of op(A) = rows of op(B), columns of op(B). */
  M: number;
  K: number;
  N: number;
  a: Float32Array;
  b: Float32Array;
  transA: boolean;
  transB: boolean;
  layout: CompiledLayout;
}

/** Row softmax of a square block-sparse matrix per batch-head. */
export interface SoftmaxProblem extends ScoreTerms {
  B: number;
  H: number;
  N: number;
  x: Float32Array;
  layout: CompiledLayout;
}

export interface SoftmaxBackwardProblem {
  B: number;
  H: number;
  N: number;
  y: Float32Array;
  dy: Float32Array;
  layout: CompiledLayout;
  scale: number;
}

/** One kernel's time within an op. */
export interface KernelTime {
  readonly kernel: string;
  readonly ms: number;
}

/**
 * Kernel time of a backend's last op, where it can measure it (WebGPU timestamp queries, the CPU
 * pool's task clocks); `K` lets a backend say more per kernel (gpu/context.ts's KernelTiming).
 */
export interface OpTimings<K extends KernelTime = KernelTime> {
  readonly op: string;
  readonly kernels: readonly K[];
  readonly totalMs: number;
}

/**
 * engine.selectBlocks after validation (API.md "Content-based layouts"): q [B, Hq, Nq, D] at absolute
 * positions qOffset[b] …, k [B, Hkv, Nk, D] (kv head (b, g)'s key j at row (b·Hkv + g)·kvStride + j). Pooled scores s[b,h,r,c] = mean(q rows in block r) ·
 * mean(valid k rows in block c) · scale; allowed c: c ≤ r with causal, c·block < keyLengths[b];
 * per (b, h, r) holding a query: the topK highest allowed s (ties: the lower c), or the fewest
 * highest whose softmax mass over the allowed c reaches threshold; the keep blocks (within the
 * allowed c) added. Rows holding no query stay empty.
 */
export interface SelectBlocksProblem<T extends OperandData = OperandData> {
  q: T;
  k: T;
  /** Rows between consecutive kv heads in k: Nk for a tensor, a KV cache's capacity. */
  kvStride: number;
  /**
   * 'mean': the pooled score above; 'bound': scale · Σ_d max(qp_d · kmin_d, qp_d · kmax_d) over
   * the elementwise min and max of block c's valid keys (Quest's upper bound).
   */
  score: 'mean' | 'bound';
  /**
   * A KV cache's summaries of blocks of `block` positions that hold exactly the valid keys of every
   * allowed block: read in place of pooling k (the same values).
   */
  summaries?: KvSummaryData;
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  block: number;
  /** Layout rows ceil((max qOffset + Nq) / block) and columns ceil(Nk / block). */
  R: number;
  C: number;
  /** Absolute position of q's first row, per batch row. */
  qOffset: Int32Array;
  /** Valid keys per batch row (Nk each when the call gave none), each ≥ 1. */
  keyLengths: Int32Array;
  causal: boolean;
  scale: number;
  /** Exactly one rule: topK ≥ 1 with threshold 0, or threshold in (0, 1] with topK 0. */
  topK: number;
  threshold: number;
  keepDiagonal: boolean;
  /** Leading block columns kept. */
  keepFirst: number;
  /** Block columns just before the diagonal kept. */
  keepLocal: number;
}

/**
 * Kept blocks per row at most, where the rule bounds them (topK: its blocks and the keep blocks),
 * else null (a threshold may keep every allowed block).
 */
export function keptPerRowBound(p: SelectBlocksProblem): number | null {
  if (p.topK === 0) return null;
  return Math.min(p.C, p.topK + p.keepFirst + p.keepLocal + (p.keepDiagonal ? 1 : 0));
}

export interface BackendInfo {
  [key: string]: unknown;
}

/**
 * The ops whose float16 path a backend may name in info.float16Ops (engine.info.float16Ops): the
 * forward (and lse), the backward, the forward over a few query rows (decode), the KV cache's storage.
 */
export type Float16Op = 'attention' | 'attentionBackward' | 'decode' | 'kvCache';

export interface Backend {
  readonly name: BackendName;
  readonly info: BackendInfo;
  /**
   * The backend stores float16 (API.md "Float16 storage"): it takes float16 q, k, v, dout, uploads
   * and KV cache tokens as half-float bits (Uint16Array, or ResidentData of dtype 'float16') and
   * returns out, dq, dk, dv of such calls as bits (lse stays float32). Absent or false: the engine
   * converts float16 data to float32 at the copies in and out.
   */
  readonly storesFloat16?: boolean;
  /** The last op's kernel times, where measured (WebGPU with timestamp-query); else absent or null. */
  readonly lastTimings?: OpTimings | null;
  /** Copies `data` into the backend's memory, for later calls (engine.upload); half-float bits keep their dtype. */
  upload(data: HostData, rowLength: number): Promise<ResidentData>;
  /**
   * Memory for a KV cache of B·Hkv heads of `capacity` tokens of D values (KvCacheData); `dtype`
   * only where storesFloat16; `summaryBlock`: keep key summaries of blocks of that many positions.
   */
  createKvCache(B: number, Hkv: number, D: number, capacity: number, dtype?: Dtype, summaryBlock?: number): Promise<KvCacheData>;
  /** ResidentData where `p.keepOnDevice`, else host data (half-float bits for float16 operands). */
  attention(p: AttentionProblem<OperandData>): Promise<OperandData>;
  /** The same forward, with each row's log-sum-exp (AttentionLseData). */
  attentionWithLse(p: AttentionProblem<OperandData>): Promise<AttentionLseData>;
  attentionBackward(p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>>;
  /** Returns dense C data for dsd/dds, block data [B, nnz, block, block] for sdd. */
  matmul(p: MatmulProblem): Promise<Float32Array>;
  softmax(p: SoftmaxProblem): Promise<Float32Array>;
  softmaxBackward(p: SoftmaxBackwardProblem): Promise<Float32Array>;
  /**
   * Content-based layout (SelectBlocksProblem): bytes [B, Hq, R, C], 1 where the block is kept, or
   * only the rows that can keep one (SelectedRows, which the engine hands out without building the bytes).
   */
  selectBlocks(p: SelectBlocksProblem): Promise<Uint8Array | SelectedRows>;
  close(): Promise<void>;
  /**
   * selectBlocks kept in the backend's memory (keepOnDevice), where it can: attention's
   * p.residentLayout; null where it keeps none for this problem (the engine takes selectBlocks').
   */
  selectBlocksResident?(p: SelectBlocksProblem): Promise<ResidentLayoutData | null>;
}

/**
 * What of an attention problem goes beyond self-attention (Nk ≠ N, a query offset, a partial last
 * block, one layout per batch row), in words, or null: the backends keep their self-attention fast
 * paths (tables cached with the layout, full tiles) for null and take their general paths otherwise.
 */
export function beyondSelfAttention(p: AttentionProblem<OperandData>): string | null {
  if (p.residentLayout) return 'a layout held on the device';
  const block = p.layout.block;
  if (p.kvStride !== p.Nk) return `keys in a KV cache (${p.Nk} of ${p.kvStride} rows)`;
  if (p.Nk !== p.N) return `queries against ${p.Nk} keys (Nq = ${p.N})`;
  if (p.qOffset.some((o) => o !== 0)) return `queries at an offset (qOffset ${Array.from(p.qOffset).join(', ')})`;
  if (p.N % block !== 0) return `a partial last block (N = ${p.N}, block ${block})`;
  if (p.layout.batches > 1) return 'one layout per batch row';
  return null;
}
