// Issue 6's side-by-side table from one device session's JSON: our WebGPU kernels
// (bench/gpu/attention.ts --versus --backward) against PyTorch FlexAttention (flex_attention.py).
//   node bench/gpu/versus-table.mjs bench/results/h100/webgpu-versus.json bench/results/h100/flex-attention.json [f32|f16|mma]
// The last argument picks the program row of attention.ts --paths (default f32; records from before
// --paths count by their dtype).
import { readFileSync } from 'node:fs';

const [oursPath, flexPath, path = 'f32'] = process.argv.slice(2);
const pathOf = (r) => r.path ?? (r.dtype === 'float16' ? 'f16' : 'f32');
const ours = JSON.parse(readFileSync(oursPath, 'utf8')).results.filter((r) => r.tile === 'auto' && pathOf(r) === path && r.ms !== undefined);
const flex = new Map(JSON.parse(readFileSync(flexPath, 'utf8')).results.map((r) => [r.N, r]));
const f = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(d));
console.log('| N | density | ours fwd ms | TFLOP/s | Flex fp32 fwd ms | × | ours fwd+bwd ms | Flex fp32 fwd+bwd ms | × | Flex fp16 fwd ms |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of ours) {
  const x = flex.get(r.N);
  const fb = r.ms + r.backwardMs; // a training step: attention() then attentionBackward() (which re-runs the forward)
  console.log(`| ${r.N} | ${f(r.density * 100, 1)}% | ${f(r.ms)} | ${f(r.tflops, 1)} | ${f(x?.fp32?.forwardMs)} | ${f(x?.fp32?.forwardMs / r.ms)} | ${f(fb, 1)} | ${f(x?.fp32?.forwardBackwardMs, 1)} | ${f(x?.fp32?.forwardBackwardMs / fb)} | ${f(x?.fp16?.forwardMs)} |`);
}
