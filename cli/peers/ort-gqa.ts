// ONNX Runtime's grouped-query operators as peers, on onnxruntime-node's CPU execution provider:
// com.microsoft.SparseAttention (a block layout as CSR tables) and com.microsoft.GroupQueryAttention
// (dense, or a token window), for a prefill of S tokens or a decode step over a past KV cache. Both
// kernels are causal; the cache shares its buffer with present_key / present_value (SparseAttention's
// CPU kernel requires that; GroupQueryAttention then appends in place, as a generation loop binds it).
//
//   const s = await ortGqaSession({ op: 'sparse', Hq, Hkv, D, block, S, past, layout, threads });
//   if (typeof s !== 'string') { await s.run(); ...; await s.release(); }
import { performance } from 'node:perf_hooks';
import { layoutToCsr } from '../../src/index.js';
import type { Layout } from '../../src/types.js';
import { uniformFloats } from '../random.js';
import { groupQueryAttentionModel, loadOnnxProto, onnxProtoError, sparseAttentionModel } from './onnx-graphs.js';
import { INSTALL_NOTE, loadOrtNode } from './onnxruntime.js';

export type OrtGqaOp = 'sparse' | 'gqa';

export interface OrtGqaProblem {
  op: OrtGqaOp;
  Hq: number;
  Hkv: number;
  D: number;
  block: number;
  /** New tokens: the query rows, and the keys and values appended at position `past`. */
  S: number;
  /** Tokens already in the cache (0: a prefill). */
  past: number;
  /** SparseAttention's layout [Hl, R, C] with R·block ≥ past + S (Hl dividing Hq; head h uses h % Hl); blocks above the diagonal are dropped. */
  layout?: Layout;
  /** GroupQueryAttention's local_window_size (tokens); absent: dense. */
  localWindow?: number;
  threads: number;
  /** The cache's first `past` tokens, [1, Hkv, past + S, D] each (the buffer is written at `past`); random when absent. */
  pastK?: Float32Array;
  pastV?: Float32Array;
  /** The new tokens, BSNH: q [1, S, Hq·D], k and v [1, S, Hkv·D]; random when absent. */
  q?: Float32Array;
  k?: Float32Array;
  v?: Float32Array;
}

export interface OrtGqaSession {
  /** One call; the output [1, S, Hq·D] (BSNH). */
  run(): Promise<Float32Array>;
  release(): Promise<void>;
  /** Model load and kernel setup, not in any timing. */
  sessionMs: number;
  operator: string;
  version: string;
}

/** Bytes of the B·H·S·T float probabilities both CPU kernels allocate per call (B = 1). */
export function ortProbabilityBytes(Hq: number, S: number, T: number): number {
  return Hq * S * T * 4;
}

interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtModule {
  Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<{ run(f: Record<string, OrtTensor>, o?: Record<string, OrtTensor | null>): Promise<unknown>; release(): Promise<void> }> };
  env: { versions?: Record<string, string> };
}

/** A session ready to run the problem, or why it cannot (a package missing). Errors of ONNX Runtime itself throw. */
export async function ortGqaSession(p: OrtGqaProblem): Promise<OrtGqaSession | string> {
  const onnx = await loadOnnxProto();
  if (!onnx) return `onnx-proto is not installed (${onnxProtoError()}); ${INSTALL_NOTE}`;
  const node = await loadOrtNode();
  if (!node.mod) return `onnxruntime-node is not installed (${node.error}); ${INSTALL_NOTE}`;
  const ort = node.mod as unknown as OrtModule;
  const { Hq, Hkv, D, S, past } = p;
  const total = past + S;
  const t0 = performance.now();
  const options = { executionProviders: ['cpu'], intraOpNumThreads: p.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
  const i32 = (data: Int32Array, dims: number[]) => new ort.Tensor('int32', data, dims);
  // the cache rows: a layout's whole length for SparseAttention (its tables cover max_blocks·block), else the tokens
  const M = p.op === 'sparse' ? Math.max(total, p.layout!.shape[1] * p.block) : total;
  const cache = (given: Float32Array | undefined, seed: number) => {
    if (given && given.length === Hkv * M * D) return given;
    const c = new Float32Array(Hkv * M * D);
    for (let g = 0; g < Hkv; g++) c.set(given ? given.subarray(g * total * D, g * total * D + past * D) : uniformFloats(past * D, seed + g), g * M * D);
    return c;
  };
  const pastK = f32(cache(p.pastK, 101), [1, Hkv, M, D]);
  const pastV = f32(cache(p.pastV, 201), [1, Hkv, M, D]);
  const feeds: Record<string, OrtTensor> = {
    query: f32(p.q ?? uniformFloats(S * Hq * D, 301), [1, S, Hq * D]),
    key: f32(p.k ?? uniformFloats(S * Hkv * D, 302), [1, S, Hkv * D]),
    value: f32(p.v ?? uniformFloats(S * Hkv * D, 303), [1, S, Hkv * D]),
    past_key: pastK,
    past_value: pastV,
  };
  let model: Uint8Array;
  let operator: string;
  if (p.op === 'sparse') {
    const csr = layoutToCsr(causalPart(p.layout!));
    const L = p.layout!.shape[0];
    model = sparseAttentionModel(onnx, { H: Hq, kvH: Hkv, D, block: p.block });
    feeds.block_row_indices = i32(csr.rowIndices, [L, csr.rowIndices.length / L]);
    feeds.block_col_indices = i32(csr.colIndices, [L, csr.colIndices.length / L]);
    feeds.total_sequence_length = i32(Int32Array.of(total), [1]);
    feeds.key_total_sequence_lengths = i32(Int32Array.of(total), [1]);
    operator = `com.microsoft.SparseAttention (fp32, CPU EP, ${L} CSR layouts, cache of ${M} rows shared with present)`;
  } else {
    model = groupQueryAttentionModel(onnx, { H: Hq, kvH: Hkv, D, localWindow: p.localWindow });
    feeds.seqlens_k = i32(Int32Array.of(total - 1), [1]);
    feeds.total_sequence_length = i32(Int32Array.of(total), [1]);
    operator = `com.microsoft.GroupQueryAttention (fp32, CPU EP, ${p.localWindow ? `local_window_size ${p.localWindow}` : 'dense causal'}, cache of ${M} rows shared with present)`;
  }
  const session = await ort.InferenceSession.create(model, options);
  const fetches = { output: null, present_key: pastK, present_value: pastV };
  return {
    run: async () => ((await session.run(feeds, fetches)) as Record<string, OrtTensor>).output!.data as Float32Array,
    release: () => session.release(),
    sessionMs: performance.now() - t0,
    operator,
    version: node.mod.env.versions?.node ?? node.mod.env.versions?.common ?? '?',
  };
}

/** The layout's blocks on and below the diagonal: the kernel is causal, so the others never count. */
function causalPart(layout: Layout): Layout {
  const [, R, C] = layout.shape;
  return { ...layout, data: layout.data.map((x, i) => (x && i % C <= Math.floor(i / C) % R ? 1 : 0)) };
}
