// ONNX Runtime's dense linear layer as a peer of bench/linear.ts: one ai.onnx Gemm node
// (Y = X·Wᵀ + b, transB = 1, opset 17) with W and b as initializers, as an exported
// torch.nn.Linear looks, run on onnxruntime-web's Wasm backend (a dense matmul that runs in every
// JavaScript runtime, like ours) and on onnxruntime-node's native CPU EP (MLAS, for scale).
// Optional packages (bench/peers/README.md says how to install them); without them each peer comes
// back with a note instead of a time. Forward only: neither package trains.
import { loadOnnxProto, onnxProtoError } from '../cli/peers/onnx-graphs.js';
import { median } from '../cli/stats.js';
import { INSTALL_NOTE, loadOrtNode, loadOrtWeb } from '../cli/peers/onnxruntime.js';

interface OnnxProto {
  ModelProto: { create(p: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } };
  TensorProto: { DataType: { FLOAT: number } };
  AttributeProto: { AttributeType: { INT: number } };
}
interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  env: { versions?: Record<string, string>; wasm?: Record<string, unknown> };
}

export interface LinearPeerResult {
  name: 'ortweb-gemm' | 'ort-gemm';
  op: string;
  ok: boolean;
  threads: number;
  version?: string;
  medianMs?: number;
  samplesMs?: number[];
  sessionMs?: number;
  /** max |Y − y| against the given expected output. */
  maxAbsDiff?: number;
  note?: string;
}

function gemmModel(onnx: OnnxProto, w: Float32Array, b: Float32Array, inF: number, out: number): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength); // ONNX raw data is little-endian, as every engine here
  const info = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const graph = {
    name: 'linear',
    node: [{ opType: 'Gemm', name: 'linear', input: ['x', 'W', 'b'], output: ['y'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }],
    initializer: [
      { name: 'W', dims: [out, inF], dataType: F, rawData: bytes(w) },
      { name: 'b', dims: [out], dataType: F, rawData: bytes(b) },
    ],
    input: [info('x', ['rows', inF])],
    output: [info('y', ['rows', out])],
  };
  const m = onnx.ModelProto.create({ irVersion: 8, producerName: 'blocksparse-bench', opsetImport: [{ domain: '', version: 17 }], graph });
  return onnx.ModelProto.encode(m).finish();
}

export async function runLinearPeers(o: {
  x: Float32Array; w: Float32Array; b: Float32Array; rows: number; inF: number; out: number;
  threads: number; warmup: number; reps: number; expected: Float32Array;
}): Promise<LinearPeerResult[]> {
  const onnx = (await loadOnnxProto()) as OnnxProto | null;
  const peers: LinearPeerResult[] = [];
  for (const name of ['ortweb-gemm', 'ort-gemm'] as const) {
    const web = name === 'ortweb-gemm';
    const op = `ai.onnx Gemm (transB = 1, W and b initializers), fp32, ${web ? "onnxruntime-web's Wasm backend in Node" : "onnxruntime-node's CPU EP"}`;
    if (!onnx) {
      peers.push({ name, op, ok: false, threads: o.threads, note: `onnx-proto is not installed (${onnxProtoError()}); ${INSTALL_NOTE}` });
      continue;
    }
    const loaded = web ? await loadOrtWeb() : await loadOrtNode();
    const ort = loaded.mod as unknown as OrtModule | null;
    if (!ort) {
      peers.push({ name, op, ok: false, threads: o.threads, note: `${web ? 'onnxruntime-web' : 'onnxruntime-node'} is not available (${loaded.error}); ${INSTALL_NOTE}` });
      continue;
    }
    let session: OrtSession | undefined;
    try {
      const t0 = performance.now();
      let options: Record<string, unknown>;
      if (web) {
        if (ort.env.wasm) {
          ort.env.wasm.numThreads = o.threads;
          ort.env.wasm.proxy = false;
        }
        options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
      } else {
        options = { executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
      }
      session = await ort.InferenceSession.create(gemmModel(onnx, o.w, o.b, o.inF, o.out), options);
      const sessionMs = performance.now() - t0;
      const feeds = { x: new ort.Tensor('float32', o.x, [o.rows, o.inF]) };
      let y: Float32Array = new Float32Array(0);
      const s = session;
      for (let i = 0; i < o.warmup; i++) await s.run(feeds);
      const samples: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t = performance.now();
        y = (await s.run(feeds)).y.data as Float32Array;
        samples.push(performance.now() - t);
      }
      let maxAbsDiff = 0;
      for (let i = 0; i < y.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(y[i] - o.expected[i]));
      peers.push({
        name, op, ok: true, threads: o.threads,
        version: ort.env.versions?.[web ? 'web' : 'node'] ?? ort.env.versions?.common,
        medianMs: median(samples), samplesMs: samples.map((v) => Math.round(v * 100) / 100), sessionMs, maxAbsDiff,
      });
    } catch (e) {
      peers.push({ name, op, ok: false, threads: o.threads, note: (e as Error).message.split('\n').slice(0, 3).join(' ') });
    } finally {
      await session?.release().catch(() => undefined);
    }
  }
  return peers;
}
