// Checks the ONNX Runtime peers against a float64 plain-JavaScript reference on small problems,
// so that the benchmarks compare the same computation (scale, causal semantics, layout, BSNH).
//   node --import tsx bench/peers/check.ts
// Exit code 1 when a peer that ran disagrees; peers that cannot run are reported and skipped.
import { layoutFromMask } from '../../src/index.js';
import { runOrtPeers, type OrtPeerName } from '../../cli/peers/onnxruntime.js';
import { uniformFloats } from '../../cli/random.js';
import { streamedReferenceAttention } from './reference.js';
import { maxAbsDiff } from '../../cli/workloads.js';

const TOL = 2e-5;
let bad = 0;

async function check(label: string, B: number, H: number, N: number, D: number, block: number,
  keep: (h: number, r: number, c: number) => boolean, threads: number, peers: OrtPeerName[]) {
  const layout = layoutFromMask(H, N / block, keep, block);
  const size = B * H * N * D;
  const q = uniformFloats(size, 11), k = uniformFloats(size, 12), v = uniformFloats(size, 13);
  const scale = 1 / Math.sqrt(D);
  const report = await runOrtPeers({ B, H, N, D, block, layout, threads, q, k, v, scale, warmup: 0, reps: 1, keepOutputs: true, peers });
  if (report.skipped) {
    console.log(`${label}: skipped (${report.skipped})`);
    return;
  }
  const sparseRef = streamedReferenceAttention(q, k, v, { B, H, N, D, scale, causal: true, layout });
  const causalRef = streamedReferenceAttention(q, k, v, { B, H, N, D, scale, causal: true });
  const denseRef = streamedReferenceAttention(q, k, v, { B, H, N, D, scale, causal: false });
  for (const r of report.results) {
    if (!r.ok) {
      console.log(`${label} ${r.name}: not run (${r.note})`);
      continue;
    }
    const ref = r.name === 'ort-sparse' ? sparseRef : r.name.endsWith('-causal') ? causalRef : denseRef;
    const err = maxAbsDiff([r.output!], [ref]);
    const pass = err <= TOL;
    if (!pass) bad++;
    console.log(`${label} ${r.name} threads=${threads}: max |ort - ref| = ${err.toExponential(2)} ${pass ? 'ok' : 'FAIL'}${r.note ? ` (${r.note})` : ''}`);
  }
}

const local3g0 = (_h: number, r: number, c: number) => c <= r && (r - c <= 3 || c === 0);
const all: OrtPeerName[] = ['ort-sparse', 'ort-mha-causal', 'ort-mha', 'ort-ops-causal', 'ort-ops', 'ortweb-mha-causal', 'ortweb-mha', 'ortweb-ops-causal', 'ortweb-ops'];
await check('local3+global0 B=1 H=2 N=512 D=64 block=64', 1, 2, 512, 64, 64, local3g0, 1, all);
await check('local3+global0 B=2 H=2 N=256 D=32 block=16', 2, 2, 256, 32, 16, local3g0, 2, all);
// a different layout per head (SparseAttention then gets numLayout = H), with empty-below-diagonal gaps
await check('per-head strided B=1 H=2 N=256 D=16 block=16', 1, 2, 256, 16, 16,
  (h, r, c) => c <= r && (c === r || (r - c) % (h + 2) === 0), 2, ['ort-sparse']);
// blocks above the diagonal: SparseAttention ignores them (causal); the reference drops them too
await check('bidirectional layout B=1 H=1 N=128 D=8 block=16', 1, 1, 128, 8, 16,
  (_h, r, c) => Math.abs(r - c) <= 1, 1, ['ort-sparse']);
console.log(bad ? `${bad} peer check(s) FAILED` : 'all peer checks passed');
process.exit(bad ? 1 : 0);
