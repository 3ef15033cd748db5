// ONNX Runtime as peers: com.microsoft.SparseAttention and MultiHeadAttention on onnxruntime-node's
// CPU provider, and MultiHeadAttention on onnxruntime-web's Wasm backend. The graphs and their
// runner are onnxruntime.ts and onnx-graphs.ts beside this file, with onnxruntime-node,
// onnxruntime-web and onnx-proto as optional, optional packages installed on demand (INSTALL_NOTE); this adapts that
// runner to the Peer interface. The runner is imported lazily: it needs Node's os module.
import type { Layout } from '../../src/types.js';
import type { Op } from '../results.js';
import type { Peer, PeerMeasurement, PeerPolicy, PeerProblem } from './index.js';
import type { OrtPeerName } from './onnxruntime.js';

type OrtRunner = typeof import('./onnxruntime.js');

let runner: Promise<OrtRunner | string> | undefined;

function loadRunner(): Promise<OrtRunner | string> {
  runner ??= import('./onnxruntime.js').catch((e: unknown) => `the ONNX Runtime peer runner did not load: ${(e as Error).message.split('\n')[0]}`);
  return runner;
}

/** True when no kept block lies above the diagonal: SparseAttention is always causal, so only such layouts compare. */
function lowerTriangular(layout: Layout): boolean {
  const [H, R, C] = layout.shape;
  for (let h = 0; h < H; h++) for (let r = 0; r < R; r++) for (let c = r + 1; c < C; c++) if (layout.data[(h * R + r) * C + c]) return false;
  return true;
}

class OrtPeer implements Peer {
  readonly ops: readonly Op[] = ['forward'];
  private versions: Record<string, string> = {};

  constructor(
    readonly id: OrtPeerName,
    readonly label: string,
    readonly kind: 'dense' | 'sparse',
    private readonly threads: number,
    private readonly what: string,
  ) {}

  async probe(): Promise<string | null> {
    const r = await loadRunner();
    if (typeof r === 'string') return r;
    // A tiny problem proves the package, onnx-proto and the operator all work here.
    const N = 32;
    const layout: Layout = { block: 16, shape: [1, 2, 2], data: Uint8Array.of(1, 0, 1, 1) };
    try {
      const rep = await r.runOrtPeers({ B: 1, H: 1, N, D: 16, block: 16, layout, threads: this.threads, warmup: 0, reps: 1, peers: [this.id] });
      this.versions = rep.versions;
      if (rep.skipped) return rep.skipped;
      const res = rep.results[0];
      if (!res?.ok) return res?.note ?? 'did not run';
      return null;
    } catch (e) {
      return (e as Error).message.split('\n')[0]!;
    }
  }

  info(): Record<string, unknown> {
    return { operator: this.what, threads: this.threads, versions: this.versions };
  }

  async measure(p: PeerProblem, _op: Op, policy: PeerPolicy): Promise<PeerMeasurement | string> {
    if (this.kind === 'sparse' && !lowerTriangular(p.layout)) {
      return 'SparseAttention is causal: it is compared only on layouts with no block above the diagonal';
    }
    const r = await loadRunner();
    if (typeof r === 'string') return r;
    const { B, H, N, D, q, k, v } = p.inputs;
    const rep = await r.runOrtPeers({
      B, H, N, D, block: p.layout.block, layout: p.layout, threads: this.threads, q: q.data, k: k.data, v: v.data, scale: p.scale,
      warmup: policy.warmup, reps: policy.reps, capMs: policy.capMs, peers: [this.id], keepOutputs: true,
    });
    if (rep.skipped) return rep.skipped;
    const res = rep.results[0];
    if (!res?.ok || !res.timesMs?.length) return `failed: ${res?.note ?? 'no result'}`;
    return {
      samples: res.timesMs,
      warmup: policy.warmup,
      // Causal peers compute something else than our non-causal fused run: no output comparison.
      ...(res.output && !this.id.includes('causal') && this.id !== 'ort-sparse' ? { outputs: [res.output] } : {}),
      notes: [`session created in ${res.sessionMs?.toFixed(0) ?? '?'} ms (not timed)`, ...(res.note ? [res.note] : [])],
    };
  }

  async close(): Promise<void> {}
}

export function onnxruntimePeers(threads: number): Peer[] {
  return [
    new OrtPeer('ort-mha', `onnxruntime-node MultiHeadAttention · ${threads}t`, 'dense', threads, 'com.microsoft.MultiHeadAttention, fp32, CPU EP (dense)'),
    new OrtPeer('ort-sparse', `onnxruntime-node SparseAttention · ${threads}t`, 'sparse', threads, 'com.microsoft.SparseAttention, fp32, CPU EP (causal)'),
    new OrtPeer('ortweb-mha', `onnxruntime-web MultiHeadAttention · wasm`, 'dense', threads, 'com.microsoft.MultiHeadAttention, fp32, onnxruntime-web wasm (dense)'),
  ];
}
