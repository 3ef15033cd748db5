// ONNX Runtime parity: onnxruntime-node's CPU com.microsoft.SparseAttention (cli/peers/onnx-graphs.ts)
// and blocksparse fed the same numbers: GQA (8 query heads over 2 kv heads), a past KV cache
// (past_key / past_value bound as present_key / present_value), per-batch-row
// key_total_sequence_lengths, and two CSR layouts cycled over the 8 heads (head h reads layout h % 2,
// as blocksparse's layout head h % Hl); one decode step (Nq = 1) and one prefill chunk against a
// past (Nq > 1). blocksparse reads the tables through layoutFromCsr, over a KV cache and over plain
// k, v. SparseAttention is causal, its queries the last Nq positions of each row: blocksparse's
// causal: true with the default qOffset (keyLengths[b] − Nq).
// Skipped, with the reason, where onnxruntime-node or onnx-proto is not installed.
import { test } from 'uvu';
import { createEngine, type Engine } from '../src/engine.js';
import { layoutFromCsr, type CsrLayout } from '../src/layouts/index.js';
import type { Layout, Tensor } from '../src/types.js';
import { loadOnnxProto, onnxProtoError, sparseAttentionModel } from '../cli/peers/onnx-graphs.js';
import { loadOrtNode } from '../cli/peers/onnxruntime.js';
import { bhndToBsnh, bsnhToBhnd } from '../cli/peers/bsnh.js';
import { assertClose, assertSameBits, GPU_TOL, mulberry32, randomTensor, referenceAttention, type Rng } from './reference/index.js';

const INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --ignore-scripts onnxruntime-node@1.30.0 onnx-proto@8.0.1';
const onnx = await loadOnnxProto();
const ortNode = onnx ? await loadOrtNode() : { mod: null, error: '' };
const missing = !onnx ? `onnx-proto is not installed (${onnxProtoError()})` : !ortNode.mod ? `onnxruntime-node is not installed (${ortNode.error})` : '';
if (missing) console.log(`  skipped: ONNX Runtime parity: ${missing}; ${INSTALL}`);
const parity = missing ? test.skip : test;

// SparseAttention wants a head size that is a multiple of 8; R·block bounds total_sequence_length
const [B, H, Hkv, D, block, R] = [2, 8, 2, 16, 8, 6];
const capacity = R * block;
/** Within ORT's own float32 error: 1e-4 + 1e-3·|ort|. */
const ORT_TOL = { atol: 1e-4, rtol: 1e-3 };

/**
 * Two causal CSR layouts of R block rows. Row r ≥ 1 keeps its diagonal block and drops at least one
 * block left of it: ORT 1.30 reads a CSR row that lists exactly r + 1 blocks as dense, whatever
 * columns it names (has_sparse in sparse_attention_base.h), so such rows are left out here rather
 * than accounted for. Row 0 can only list column 0, where dense and sparse agree. Columns come
 * shuffled, which the format allows.
 */
function csrLayouts(rng: Rng): CsrLayout {
  const layouts: number[][][] = [];
  for (let l = 0; l < 2; l++) {
    const rows: number[][] = [[0]];
    for (let r = 1; r < R; r++) {
      const left = Array.from({ length: r }, (_, c) => c).filter(() => rng() < 0.5);
      if (left.length === r) left.splice(Math.floor(rng() * r), 1);
      const cols = [...left, r];
      for (let i = cols.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [cols[i], cols[j]] = [cols[j], cols[i]];
      }
      rows.push(cols);
    }
    layouts.push(rows);
  }
  const nnzMax = Math.max(...layouts.map((rows) => rows.flat().length));
  const rowIndices = new Int32Array(2 * (R + 1));
  const colIndices = new Int32Array(2 * nnzMax).fill(-1);
  layouts.forEach((rows, l) => {
    let n = 0;
    rows.forEach((cols, r) => {
      for (const c of cols) colIndices[l * nnzMax + n++] = c;
      rowIndices[l * (R + 1) + r + 1] = n;
    });
  });
  return { rowIndices, colIndices, numLayouts: 2, block };
}

interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession {
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
}

/** Rows `rows` of batch row b of x [B, heads, N, D], as [1, heads, rows.length, D]. */
function slice(x: Float32Array, heads: number, N: number, b: number, from: number, to: number): Float32Array {
  const out = new Float32Array(heads * (to - from) * D);
  for (let h = 0; h < heads; h++) out.set(x.subarray(((b * heads + h) * N + from) * D, ((b * heads + h) * N + to) * D), h * (to - from) * D);
  return out;
}

/**
 * SparseAttention over batch rows `rows` (all of one key length `total`): the first total − Nq tokens
 * in past_key / past_value [n, Hkv, capacity, D], the last Nq as key / value. Returns the output
 * [n, H, Nq, D] and present_key.
 */
async function runOrt(session: OrtSession, ort: Ort, csr: CsrLayout, q: Tensor, k: Tensor, v: Tensor, rows: number[], total: number) {
  const Nq = q.shape[2];
  const L = k.shape[2];
  const n = rows.length;
  const past = total - Nq;
  const pastK = new Float32Array(n * Hkv * capacity * D);
  const pastV = new Float32Array(n * Hkv * capacity * D);
  const cat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) out.set(p, at), (at += p.length);
    return out;
  };
  rows.forEach((b, i) => {
    for (const [src, dst] of [[k.data, pastK], [v.data, pastV]]) {
      const head = slice(src, Hkv, L, b, 0, past);
      for (let g = 0; g < Hkv; g++) dst.set(head.subarray(g * past * D, (g + 1) * past * D), (i * Hkv + g) * capacity * D);
    }
  });
  const newK = cat(rows.map((b) => slice(k.data, Hkv, L, b, past, total)));
  const newV = cat(rows.map((b) => slice(v.data, Hkv, L, b, past, total)));
  const query = cat(rows.map((b) => slice(q.data, H, Nq, b, 0, Nq)));
  const presentK = new ort.Tensor('float32', pastK, [n, Hkv, capacity, D]);
  const presentV = new ort.Tensor('float32', pastV, [n, Hkv, capacity, D]);
  const r = await session.run({
    query: new ort.Tensor('float32', bhndToBsnh(query, n, H, Nq, D), [n, Nq, H * D]),
    key: new ort.Tensor('float32', bhndToBsnh(newK, n, Hkv, Nq, D), [n, Nq, Hkv * D]),
    value: new ort.Tensor('float32', bhndToBsnh(newV, n, Hkv, Nq, D), [n, Nq, Hkv * D]),
    // the CPU kernel takes a cache only when past and present share one buffer: the same tensor in and out
    past_key: presentK,
    past_value: presentV,
    block_row_indices: new ort.Tensor('int32', csr.rowIndices, [csr.numLayouts, R + 1]),
    block_col_indices: new ort.Tensor('int32', csr.colIndices, [csr.numLayouts, csr.colIndices.length / csr.numLayouts]),
    total_sequence_length: new ort.Tensor('int32', Int32Array.of(total), [1]),
    key_total_sequence_lengths: new ort.Tensor('int32', new Int32Array(n).fill(total), [n]),
  }, { output: null, present_key: presentK, present_value: presentV });
  return { out: bsnhToBhnd(r.output.data as Float32Array, n, H, Nq, D), presentK: r.present_key.data as Float32Array };
}

interface ParityCase {
  name: string;
  Nq: number;
  /** key_total_sequence_lengths: each row's past + Nq tokens. */
  totals: [number, number];
  seed: number;
}

const cases: ParityCase[] = [
  { name: 'decode, both rows 37 tokens', Nq: 1, totals: [37, 37], seed: 1 },
  { name: 'decode, rows of 37 and 26 tokens', Nq: 1, totals: [37, 26], seed: 2 },
  { name: 'prefill chunk of 11 after 19 past tokens', Nq: 11, totals: [30, 30], seed: 3 },
  { name: 'prefill chunk of 13, rows of 45 and 21 tokens', Nq: 13, totals: [45, 21], seed: 4 },
];

let engine: Engine;
let session: OrtSession;
const ort = ortNode.mod as unknown as Ort;

test.before(async () => {
  if (missing) return;
  engine = await createEngine({ backend: 'cpu', threads: 1 });
  const options = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  session = await ort.InferenceSession.create(sparseAttentionModel(onnx!, { H, kvH: Hkv, D, block }), options);
});

test.after(async () => {
  await session?.release();
  await engine?.close();
});

for (const c of cases) {
  parity(`SparseAttention and blocksparse (KV cache and plain k, v) agree: ${c.name}, GQA 8 over 2, two CSR layouts over 8 heads`, async () => {
    const rng = mulberry32(c.seed);
    const csr = csrLayouts(rng);
    const layout: Layout = layoutFromCsr(csr);
    const L = Math.max(...c.totals);
    const q = randomTensor([B, H, c.Nq, D], rng);
    const k = randomTensor([B, Hkv, L, D], rng);
    const v = randomTensor([B, Hkv, L, D], rng);
    const ragged = c.totals[0] !== c.totals[1];
    const keyLengths = ragged ? Int32Array.from(c.totals) : undefined;

    // blocksparse: the past, then the new tokens, appended to a cache
    const cache = await engine.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity });
    const part = (t: Tensor, from: number, to: number) => ({ data: joinRows(t, from, to), shape: [B, Hkv, to - from, D] });
    await cache.append({ k: part(k, 0, L - c.Nq), v: part(v, 0, L - c.Nq) });
    await cache.append({ k: part(k, L - c.Nq, L), v: part(v, L - c.Nq, L) });
    const viaCache = await engine.attention({ q, kv: cache, layout, causal: true, keyLengths });
    const viaTensors = await engine.attention({ q, k, v, layout, causal: true, keyLengths });
    assertSameBits(viaCache.data, viaTensors.data, 'cache vs plain k, v');
    cache.destroy();

    // ORT: a batch row shorter than total_sequence_length comes out wrong in 1.30 (the CPU kernel
    // writes the probabilities at a stride of total_sequence_length and reads them at the row's
    // own length), so ragged rows run one batch row at a time, each with its own total
    const ortOut = new Float32Array(B * H * c.Nq * D);
    const groups = ragged ? [[0], [1]] : [[0, 1]];
    for (const rows of groups) {
      const total = c.totals[rows[0]];
      const r = await runOrt(session, ort, csr, q, k, v, rows, total);
      rows.forEach((b, i) => {
        ortOut.set(r.out.subarray(i * H * c.Nq * D, (i + 1) * H * c.Nq * D), b * H * c.Nq * D);
        // present_key holds the row's tokens: the past as fed, then the new ones where the kernel put them
        const held = slice(k.data, Hkv, L, b, 0, total);
        for (let g = 0; g < Hkv; g++) {
          const got = r.presentK.subarray((i * Hkv + g) * capacity * D, ((i * Hkv + g) * capacity + total) * D);
          assertSameBits(got, held.subarray(g * total * D, (g + 1) * total * D), `present_key of batch row ${b}, kv head ${g}`);
        }
      });
    }
    assertClose(viaCache.data, ortOut, { ...ORT_TOL, label: `${c.name}: blocksparse (KV cache) vs ORT` });
    assertClose(viaTensors.data, ortOut, { ...ORT_TOL, label: `${c.name}: blocksparse (k, v) vs ORT` });
    // both read the same problem: ORT itself is within float32 error of the float64 reference
    assertClose(ortOut, referenceAttention({ q, k, v, layout, causal: true, keyLengths }), { ...GPU_TOL, label: `${c.name}: ORT vs float64` });
  });
}

/** Tokens from … to − 1 of every (batch row, kv head) of t [B, Hkv, L, D], as [B, Hkv, to − from, D] data. */
function joinRows(t: Tensor, from: number, to: number): Float32Array {
  const L = t.shape[2];
  const out = new Float32Array(B * Hkv * (to - from) * D);
  for (let b = 0; b < B; b++) out.set(slice(t.data, Hkv, L, b, from, to), b * Hkv * (to - from) * D);
  return out;
}

test.run();
