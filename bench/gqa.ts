// Grouped kv heads against multi-head attention on the same query heads, layout and backend: does
// GQA cost more per FLOP? (issue 14's goal: GFLOP/s with Hkv = Hq/4 at ≥ 95% of Hkv = Hq.)
//   node --import tsx bench/gqa.ts [--backend cpu|webgpu] [--threads N] [--N 8192] [--H 32] [--rounds 5] [--out f.json]
// Phi-3-small's pattern (block 64, 16 local blocks, vertical stride 8), causal, D 128. Operands are
// DeviceTensors uploaded once and outputs stay on the backend (keepOnDevice), so the time is the op.
// The two head counts alternate call by call. GFLOP/s count kept blocks whole: 4·B·nnz·block²·D
// forward, 10·B·nnz·block²·D forward + backward (the backward's recomputed scores included), where
// nnz is the layout's count over the query heads (the same for both Hkv).
import { parseFlags } from '../cli/flags.js';
import { mulberry32, uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { Phi3SmallSparsityConfig, createEngine, describeLayout, type DeviceTensor, type Engine } from '../src/index.js';

const flags = parseFlags({ backend: 'string', threads: 'int', N: 'int', H: 'int', rounds: 'int', out: 'string' });
const backend = flags.string('backend', 'cpu') as 'cpu' | 'webgpu';
const [B, H, N, D, block] = [1, flags.int('H', 32), flags.int('N', 8192), 128, 64];
const rounds = flags.int('rounds', 5);
const kvCounts = [H, H / 4];
const engine: Engine = await createEngine(backend === 'cpu' ? { backend, threads: flags.int('threads', 1) } : { backend });
const layout = new Phi3SmallSparsityConfig({ numHeads: H, block }).makeLayout(N);
const nnz = describeLayout(layout).nnz;

const rng = mulberry32(14);
const tensor = (heads: number) => ({ data: uniformFloats(B * heads * N * D, rng), shape: [B, heads, N, D] });
const q = await engine.upload(tensor(H));
const dout = await engine.upload(tensor(H));
const kv = new Map<number, { k: DeviceTensor; v: DeviceTensor }>();
for (const Hkv of kvCounts) kv.set(Hkv, { k: await engine.upload(tensor(Hkv)), v: await engine.upload(tensor(Hkv)) });

type Op = 'forward' | 'forward+backward';
async function call(op: Op, Hkv: number): Promise<{ wallMs: number; kernelMs: number | null }> {
  const { k, v } = kv.get(Hkv)!;
  const t0 = performance.now();
  let kernelMs = 0;
  const out = (await engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true })) as DeviceTensor;
  kernelMs += engine.lastTimings?.kernelMs ?? NaN;
  if (op === 'forward+backward') {
    const g = await engine.attentionBackward({ q, k, v, layout, causal: true, dout, keepOnDevice: true });
    kernelMs += engine.lastTimings?.kernelMs ?? NaN;
    for (const x of [g.dq, g.dk, g.dv] as DeviceTensor[]) x.destroy();
  }
  const wallMs = performance.now() - t0;
  out.destroy();
  return { wallMs, kernelMs: Number.isFinite(kernelMs) ? kernelMs : null };
}

const results: Record<string, unknown>[] = [];
for (const op of ['forward', 'forward+backward'] as const) {
  for (const Hkv of kvCounts) await call(op, Hkv); // warm-up: programs compiled, memory grown
  const samples = new Map<number, { wall: number[]; kernel: number[] }>(kvCounts.map((h) => [h, { wall: [], kernel: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const Hkv of r % 2 === 0 ? kvCounts : [...kvCounts].reverse()) {
      const t = await call(op, Hkv);
      samples.get(Hkv)!.wall.push(t.wallMs);
      if (t.kernelMs !== null) samples.get(Hkv)!.kernel.push(t.kernelMs);
    }
  }
  const flops = (op === 'forward' ? 4 : 10) * B * nnz * block * block * D;
  for (const Hkv of kvCounts) {
    const s = samples.get(Hkv)!;
    // the GPU's own clock where it has one (timestamp queries); the wall clock on the CPU
    const ms = backend === 'webgpu' && s.kernel.length ? median(s.kernel) : median(s.wall);
    const row = { backend, threads: engine.info.threads ?? null, op, B, H, Hkv, N, D, block, nnz, ms, wallMs: median(s.wall), gflops: flops / ms / 1e6, samples: s };
    results.push(row);
    console.log(`${backend} ${op.padEnd(16)} Hq ${H} Hkv ${String(Hkv).padStart(2)}: ${ms.toFixed(1)} ms, ${row.gflops.toFixed(0)} GFLOP/s`);
  }
  const [mha, gqa] = kvCounts.map((h) => results.find((x) => x.op === op && x.Hkv === h)!.gflops as number);
  console.log(`${backend} ${op}: GQA/MHA GFLOP/s ${(gqa! / mha!).toFixed(3)}`);
}
await engine.close();
const out = flags.string('out');
if (out) await writeJson(out, { layout: 'Phi3SmallSparsityConfig', density: describeLayout(layout).density, results });
