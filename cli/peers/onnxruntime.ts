// ONNX Runtime as a peer: com.microsoft.SparseAttention and dense com.microsoft.MultiHeadAttention
// (causal and not) on onnxruntime-node's CPU execution provider, with intra_op_num_threads set to
// the thread count we compare against; optionally MultiHeadAttention on onnxruntime-web's Wasm
// backend in Node. Optional dependencies: without onnxruntime-node or onnx-proto every peer comes
// back skipped, with a note saying how to install them.
//
//   const r = await runOrtPeers({ B, H, N, D, block, layout, threads });
//   r.results: [{ name: 'ort-sparse', medianMs, ... }, { name: 'ort-mha-causal', ... }, ...]
import { performance } from 'node:perf_hooks';
import { layoutToCsr } from '../../src/index.js';
import type { Layout } from '../../src/types.js';
import { denseAttentionOpsModel, loadOnnxProto, multiHeadAttentionModel, onnxProtoError, sparseAttentionModel } from './onnx-graphs.js';
import { timeClean } from './machine.js';
import { uniformFloats } from '../random.js';
import { bhndToBsnh, bsnhToBhnd } from './bsnh.js';

export const INSTALL_NOTE = 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node@1.30.0 onnxruntime-web@1.30.0 onnx-proto@8.0.1';

export type OrtPeerName =
  | 'ort-sparse' | 'ort-mha-causal' | 'ort-mha' | 'ort-ops-causal' | 'ort-ops'
  | 'ortweb-mha-causal' | 'ortweb-mha' | 'ortweb-ops-causal' | 'ortweb-ops';
export const DEFAULT_PEERS: OrtPeerName[] = ['ort-sparse', 'ort-mha-causal', 'ort-mha'];

export interface OrtPeerOptions {
  B: number;
  H: number;
  N: number;
  D: number;
  block: number;
  /** A blocksparse Layout [H, N/block, N/block]; SparseAttention keeps its causal part only. */
  layout: { block: number; shape: [number, number, number]; data: Uint8Array };
  /** intra_op_num_threads (ONNX Runtime counts the calling thread); numThreads on the web backend. */
  threads: number;
  /** [B, H, N, D] inputs; random (seeded) when absent. */
  q?: Float32Array;
  k?: Float32Array;
  v?: Float32Array;
  /** Default 1/sqrt(D), as both operators. */
  scale?: number;
  /** Untimed runs first (default 1) and timed runs (default 5). */
  warmup?: number;
  reps?: number;
  /** Stop adding timed runs once this many ms were spent on one peer (at least one run is kept). */
  capMs?: number;
  /** Timed runs with other processes above this many cores busy are retried (default 0.15). */
  maxForeign?: number;
  peers?: OrtPeerName[];
  /** Keep each peer's output, converted back to [B, H, N, D] (default false). */
  keepOutputs?: boolean;
}

export interface OrtPeerResult {
  name: OrtPeerName;
  /** What it computes, in words. */
  op: string;
  threads: number;
  ok: boolean;
  /** Median of the samples taken while other processes left the cores alone (all, when too few were). */
  medianMs?: number;
  timesMs?: number[];
  /** Other processes' load during each sample, in cores. */
  foreignLoad?: number[];
  /** This process's CPU time during each sample, in cores. */
  ownCores?: number[];
  /** False when fewer than `reps` samples ran on a quiet machine. */
  enoughClean?: boolean;
  /** Session creation (model load and kernel setup), not in the timings. */
  sessionMs?: number;
  note?: string;
  output?: Float32Array;
}

export interface OrtPeersReport {
  /** Set when nothing could run (a package missing). */
  skipped?: string;
  versions: Record<string, string>;
  results: OrtPeerResult[];
}

// The parts of onnxruntime-common's API we use, loosely typed so that this file type-checks
// without the packages.
interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession {
  run(feeds: Record<string, OrtTensor>, fetches?: Record<string, OrtTensor | null> | string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  env: { versions?: Record<string, string>; wasm?: Record<string, unknown>; logLevel?: string };
}

async function importOptional(name: string): Promise<{ mod: OrtModule | null; error: string }> {
  try {
    const m = (await import(name)) as OrtModule & { default?: OrtModule };
    return { mod: (m.InferenceSession ? m : m.default) ?? null, error: '' };
  } catch (e) {
    return { mod: null, error: (e as Error).message.split('\n')[0] };
  }
}

export async function loadOrtNode() {
  return importOptional('onnxruntime-node');
}

export async function loadOrtWeb() {
  return importOptional('onnxruntime-web');
}

/** onnxruntime-web reads env.wasm.numThreads once, when its first session starts its Wasm module. */
let webInitThreads: number | undefined;

export async function runOrtPeers(o: OrtPeerOptions): Promise<OrtPeersReport> {
  const peers = o.peers ?? DEFAULT_PEERS;
  const versions: Record<string, string> = {};
  const onnx = await loadOnnxProto();
  if (!onnx) {
    return { skipped: `onnx-proto is not installed (${onnxProtoError()}); ${INSTALL_NOTE}`, versions, results: [] };
  }
  const needNode = peers.some((p) => p.startsWith('ort-'));
  const needWeb = peers.some((p) => p.startsWith('ortweb-'));
  const node = needNode ? await loadOrtNode() : { mod: null, error: '' };
  const web = needWeb ? await loadOrtWeb() : { mod: null, error: '' };
  if (node.mod?.env.versions) versions['onnxruntime-node'] = node.mod.env.versions.node ?? node.mod.env.versions.common ?? '?';
  if (web.mod?.env.versions) versions['onnxruntime-web'] = web.mod.env.versions.web ?? web.mod.env.versions.common ?? '?';
  if (needNode && !node.mod && !needWeb) {
    return { skipped: `onnxruntime-node is not installed (${node.error}); ${INSTALL_NOTE}`, versions, results: [] };
  }

  const { B, H, N, D, block, threads } = o;
  const size = B * H * N * D;
  const q0 = o.q ?? uniformFloats(size, 1), k0 = o.k ?? uniformFloats(size, 2), v0 = o.v ?? uniformFloats(size, 3);
  const q = bhndToBsnh(q0, B, H, N, D);
  const k = bhndToBsnh(k0, B, H, N, D);
  const v = bhndToBsnh(v0, B, H, N, D);
  const warmup = o.warmup ?? 1;
  const reps = o.reps ?? 5;
  const capMs = o.capMs ?? 60_000;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const results: OrtPeerResult[] = [];

  for (const name of peers) {
    const isWeb = name.startsWith('ortweb-');
    const ort = isWeb ? web.mod : node.mod;
    const causal = name.endsWith('-causal') || name === 'ort-sparse';
    const isOps = name.includes('-ops');
    const where = isWeb ? 'onnxruntime-web wasm' : 'CPU EP';
    const op = name === 'ort-sparse'
      ? 'com.microsoft.SparseAttention (fp32, causal, CPU EP)'
      : isOps
        ? `dense attention from ai.onnx ops: Transpose, MatMul, Mul${causal ? ', Add (causal mask)' : ''}, Softmax, MatMul (fp32, ${where})`
        : `com.microsoft.MultiHeadAttention (fp32, unidirectional=${causal ? 1 : 0}, ${where})`;
    if (!ort) {
      results.push({ name, op, threads, ok: false, note: `${isWeb ? 'onnxruntime-web' : 'onnxruntime-node'} is not available: ${(isWeb ? web : node).error}` });
      continue;
    }
    let session: OrtSession | undefined;
    try {
      const t0 = performance.now();
      let options: Record<string, unknown>;
      if (isWeb) {
        // onnxruntime-web reads its thread count from env.wasm before the first session
        if (ort.env.wasm && webInitThreads === undefined) {
          ort.env.wasm.numThreads = threads;
          ort.env.wasm.proxy = false;
          webInitThreads = threads;
        }
        options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
      } else {
        options = {
          executionProviders: ['cpu'],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        };
      }
      let feeds: Record<string, OrtTensor>;
      let fetches: Record<string, OrtTensor | null> | undefined;
      if (name === 'ort-sparse') {
        const csr = layoutToCsr(ortSparseLayout(o.layout));
        const nnzMax = csr.colIndices.length / csr.numLayouts;
        session = await ort.InferenceSession.create(sparseAttentionModel(onnx, { H, D, block, scale }), options);
        // The CPU kernel requires past_key / present_key (and values) to share one buffer: the
        // same tensor goes in as a feed and comes back as a preallocated output.
        const pastK = new ort.Tensor('float32', new Float32Array(B * H * N * D), [B, H, N, D]);
        const pastV = new ort.Tensor('float32', new Float32Array(B * H * N * D), [B, H, N, D]);
        feeds = {
          query: new ort.Tensor('float32', q, [B, N, H * D]),
          key: new ort.Tensor('float32', k, [B, N, H * D]),
          value: new ort.Tensor('float32', v, [B, N, H * D]),
          past_key: pastK,
          past_value: pastV,
          block_row_indices: new ort.Tensor('int32', csr.rowIndices, [csr.numLayouts, csr.rowIndices.length / csr.numLayouts]),
          block_col_indices: new ort.Tensor('int32', csr.colIndices, [csr.numLayouts, nnzMax]),
          total_sequence_length: new ort.Tensor('int32', Int32Array.of(N), [1]),
          key_total_sequence_lengths: new ort.Tensor('int32', new Int32Array(B).fill(N), [B]),
        };
        fetches = { output: null, present_key: pastK, present_value: pastV };
      } else if (isOps) {
        session = await ort.InferenceSession.create(denseAttentionOpsModel(onnx, { H, D, causal, scale }), options);
        feeds = {
          query: new ort.Tensor('float32', q0, [B, H, N, D]),
          key: new ort.Tensor('float32', k0, [B, H, N, D]),
          value: new ort.Tensor('float32', v0, [B, H, N, D]),
        };
        if (causal) {
          const mask = new Float32Array(N * N);
          for (let i = 0; i < N; i++) mask.fill(-Infinity, i * N + i + 1, (i + 1) * N);
          feeds.mask = new ort.Tensor('float32', mask, [N, N]);
        }
      } else {
        session = await ort.InferenceSession.create(multiHeadAttentionModel(onnx, { H, D, causal, scale }), options);
        feeds = {
          query: new ort.Tensor('float32', q, [B, N, H * D]),
          key: new ort.Tensor('float32', k, [B, N, H * D]),
          value: new ort.Tensor('float32', v, [B, N, H * D]),
        };
      }
      const sessionMs = performance.now() - t0;
      const s = session;
      let last: Record<string, OrtTensor> = {};
      const t = await timeClean(async () => { last = await s.run(feeds, fetches); }, { warmup, reps, capMs, maxForeign: o.maxForeign });
      const r: OrtPeerResult = { name, op, threads, ok: true, medianMs: t.median, timesMs: t.samples, foreignLoad: t.foreign, ownCores: t.own, enoughClean: t.enoughClean, sessionMs };
      if (isWeb) {
        r.note = `onnxruntime-web env.wasm.numThreads=${String(ort.env.wasm?.numThreads)}`;
        if (webInitThreads !== threads) {
          r.note += `; its Wasm module started with ${webInitThreads} threads earlier in this process, so this ran on ${webInitThreads}, not ${threads} (use a fresh process per thread count)`;
          r.threads = webInitThreads!;
        }
      }
      if (o.keepOutputs) r.output = isOps ? (last.output.data as Float32Array).slice() : bsnhToBhnd(last.output.data as Float32Array, B, H, N, D);
      results.push(r);
    } catch (e) {
      results.push({ name, op, threads, ok: false, note: (e as Error).message.split('\n').slice(0, 3).join(' ') });
    } finally {
      await session?.release().catch(() => undefined);
    }
  }
  return { versions, results };
}

/**
 * The layout SparseAttention is given: its kernels are causal, so blocks above the diagonal are
 * dropped (they never count), and heads that all share one pattern become one table layout.
 * Its CSR tables are then the library's layoutToCsr of this.
 */
function ortSparseLayout(layout: Layout): Layout {
  const [H, R, C] = layout.shape;
  const per = R * C;
  const lower = layout.data.map((x, i) => (x && i % C <= Math.floor((i % per) / C) ? 1 : 0));
  let same = true;
  for (let i = per; i < H * per && same; i++) same = lower[i] === lower[i % per];
  return same ? { block: layout.block, shape: [1, R, C], data: lower.slice(0, per) } : { ...layout, data: lower };
}
