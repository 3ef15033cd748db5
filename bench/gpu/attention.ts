// Steady-state kernel time of the fused attention on a real GPU, from timestamp queries: inputs are
// uploaded once and the op is encoded REPS times back to back in one submission (the GPU never
// idles between repetitions, so clocks stay up), the first WARM dropped. TFLOP/s count the work
// of the kept blocks: 4·block²·D per block for the forward (half for diagonal blocks when
// causal), 2.5× that for dQ + dK/dV, plus the recomputed forward.
//   node attention.mjs [out.json] [--backward] [--sweep=forward|backward|all|none] [--quick] [--versus]
//                      [--dtype=float32|float16] [--experimental]
// --versus: issue 6's layout over N = 1024…65536 (B=1, H=16, D=64, block 128), as flex_attention.py.
// --dtype=float16: q, k, v, dout as half floats, the f16 programs (shader-f16; implies --experimental,
// Dawn's toggles that expose it on NVIDIA); --experimental alone: the f32 programs on that device.
// Writes JSON (one record per config × tile variant) when given a path.
import { encodeAttentionBackward } from '../../gpu/attention-backward.js';
import type { AttnKernel, TileOverride } from '../../gpu/attention-common.js';
import { encodeAttentionForward, uploadAttentionInputs } from '../../gpu/attention-forward.js';
import { upload } from '../../gpu/buffers.js';
import { GpuContext } from '../../gpu/context.js';
import { acquireDevice } from '../../gpu/device.js';
import type { AttentionProblem } from '../../src/backend.js';
import { compileLayout } from '../../src/layouts/compile.js';
import { toFloat16 } from '../../src/float16.js';
import type { Layout } from '../../src/types.js';
import { parseFlags } from '../../cli/flags.js';
import { mulberry32, uniformFloats } from '../../cli/random.js';
import { median } from '../../cli/stats.js';
import { writeJson } from '../../cli/write-json.js';

const flags = parseFlags({ backward: 'bool', quick: 'bool', versus: 'bool', sweep: 'string', dtype: 'string', experimental: 'bool' });
const outFile = flags.positionals[0];
const withBackward = flags.bool('backward');
const quick = flags.bool('quick');
const sweep = flags.string('sweep', 'none');
const dtype = flags.string('dtype', 'float32');
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype must be float32 or float16, got ${dtype}`);
const half = dtype === 'float16';
const REPS = 12;
const WARM = 4;

// 'versus': issue 6's layout, the same as bench/gpu/flex_attention.py builds for FlexAttention
type Pattern = 'dense' | 'bigbird' | 'local' | 'versus';
function makeLayout(H: number, R: number, block: number, pattern: Pattern, causal: boolean): Layout {
  const data = new Uint8Array(H * R * R);
  const r01 = mulberry32(7);
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < R; c++) {
        let keep = pattern === 'dense';
        if (pattern === 'local') keep = Math.abs(r - c) <= 4;
        if (pattern === 'versus') keep = (r - c >= 0 && r - c <= 3) || c % 8 === 0;
        if (pattern === 'bigbird') keep = Math.abs(r - c) <= 1 || r < 2 || c < 2 || r01() < 3 / R;
        if (causal && c > r) keep = false;
        data[(h * R + r) * R + c] = keep ? 1 : 0;
      }
    }
  }
  return { block, shape: [H, R, R], data };
}



interface Config {
  name: string;
  B: number;
  H: number;
  N: number;
  D: number;
  block: number;
  pattern: Pattern;
  causal: boolean;
}

const versus = flags.bool('versus');
const versusSeqs = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const configs: Config[] = versus
  ? versusSeqs.map((N) => ({ name: `versus N${N}`, B: 1, H: 16, N, D: 64, block: 128, pattern: 'versus' as const, causal: false }))
  : [
  { name: 'N16384 D64 b128 dense', B: 1, H: 4, N: 16384, D: 64, block: 128, pattern: 'dense', causal: false },
  { name: 'N16384 D64 b128 causal', B: 1, H: 4, N: 16384, D: 64, block: 128, pattern: 'dense', causal: true },
  { name: 'N16384 D64 b128 bigbird', B: 1, H: 8, N: 16384, D: 64, block: 128, pattern: 'bigbird', causal: false },
  { name: 'N16384 D64 b64 local', B: 1, H: 8, N: 16384, D: 64, block: 64, pattern: 'local', causal: false },
  { name: 'N4096 D128 b64 dense', B: 2, H: 8, N: 4096, D: 128, block: 64, pattern: 'dense', causal: false },
  { name: 'N4096 D64 b32 dense', B: 2, H: 8, N: 4096, D: 64, block: 32, pattern: 'dense', causal: false },
  { name: 'N4096 D64 b16 bigbird', B: 2, H: 8, N: 4096, D: 64, block: 16, pattern: 'bigbird', causal: false },
  ];

type Overrides = Partial<Record<AttnKernel, TileOverride>>;
const forwardVariants: [string, Overrides][] = [
  ['f 64x64 t16x16 (4x4)', { forward: { BR: 64, BC: 64, TY: 16, TX: 16 } }],
  ['f 128x64 t16x16 (8x4)', { forward: { BR: 128, BC: 64, TY: 16, TX: 16 } }],
  ['f 64x64 t16x16 Q staged', { forward: { BR: 64, BC: 64, TY: 16, TX: 16, qResident: false } }],
  ['f per-block 32x32 t8x8', { forward: { BR: 32, BC: 32, TY: 8, TX: 8 } }],
  ['f per-block 16x16 t4x4', { forward: { BR: 16, BC: 16, TY: 4, TX: 4 } }],
  ['f gather 32x128 t8x32', { forward: { BR: 32, BC: 128, TY: 8, TX: 32 } }],
  ['f gather 16x128 t4x32', { forward: { BR: 16, BC: 128, TY: 4, TX: 32 } }],
];
const backwardVariants: [string, Overrides][] = [
  ['b dq 128x64 t16x16', { dq: { BR: 128, BC: 64, TY: 16, TX: 16, DK: 8 } }],
  ['b per-block 32 / 16', { dq: { BR: 32, BC: 32, TY: 8, TX: 8 }, dkdv: { BR: 16, BC: 16, TY: 4, TX: 4 } }],
  ['b 64x64 t16x8 (4x8)', { dq: { BR: 64, BC: 64, TY: 16, TX: 8 }, dkdv: { BR: 64, BC: 64, TY: 16, TX: 8 } }],
];
const variants: [string, Overrides][] = [
  ['auto', {}],
  ...(sweep === 'forward' || sweep === 'all' ? forwardVariants : []),
  ...(sweep === 'backward' || sweep === 'all' ? backwardVariants : []),
];

function forwardFlops(p: AttentionProblem<Float32Array | Uint16Array>): number {
  const L = p.layout;
  const { keptFull, keptPartial } = L.causalTables(p.causal);
  return 4 * L.block * L.block * p.D * (keptFull + 0.5 * keptPartial) * p.B;
}


const acq = await acquireDevice({ experimental: half || flags.bool('experimental') });
const ctx = new GpuContext(acq.device, acq.limits, acq.timestampQuery, acq.subgroupSize);
console.log(JSON.stringify({ ...acq.adapterInfo, limits: acq.limits, subgroupSize: acq.subgroupSize, features: acq.features, dtype }));
if (!acq.timestampQuery) throw new Error('no timestamp-query on this adapter');
if (half && !acq.features.includes('shader-f16')) throw new Error('--dtype=float16: the adapter has no shader-f16');
/** The operand as the kernels read it: float32, or half-float bits (the f16 programs). */
const operand = (x: Float32Array): Float32Array | Uint16Array => (half ? toFloat16(x) : x);

const results: Record<string, unknown>[] = [];
for (const c of quick ? configs.slice(0, 3) : configs) {
  const R = c.N / c.block;
  const n = c.B * c.H * c.N * c.D;
  const p: AttentionProblem<Float32Array | Uint16Array> = {
    B: c.B, H: c.H, Hkv: c.H, N: c.N, Nk: c.N, kvStride: c.N, qOffset: new Int32Array(c.B), D: c.D,
    q: operand(uniformFloats(n, 1)), k: operand(uniformFloats(n, 2)), v: operand(uniformFloats(n, 3)),
    layout: compileLayout(makeLayout(c.H, R, c.block, c.pattern, c.causal)),
    scale: 1 / Math.sqrt(c.D), causal: c.causal, rpe: null, keyPadding: null, attnMask: null,
  };
  const dout = operand(uniformFloats(n, 4));
  const flops = forwardFlops(p);
  {
    // An unmeasured round first: the first use of a new allocation size reads slow (seen on the H100).
    ctx.tileOverrides = {};
    const r = ctx.recorder('bench warm-up');
    const inp = uploadAttentionInputs(ctx, r, p);
    const g = r.own(upload(ctx.device, ctx.limits, 'dout', dout));
    for (let i = 0; i < 2; i++) encodeAttentionBackward(ctx, r, p, inp, g);
    await r.run([]);
  }
  for (const [tag, overrides] of variants) {
    ctx.tileOverrides = overrides;
    const rec: Record<string, unknown> = { tile: tag, ...c, dtype, density: p.layout.density, gflop: flops / 1e9 };
    try {
      if (!tag.startsWith('b ')) {
        const r = ctx.recorder('bench forward');
        const inp = uploadAttentionInputs(ctx, r, p);
        for (let i = 0; i < REPS; i++) encodeAttentionForward(ctx, r, p, inp);
        await r.run([]);
        const ks = ctx.lastTimings!.kernels;
        const times = ks.slice(WARM).map((k) => k.ms);
        Object.assign(rec, { key: ks[0].key, ms: median(times), minMs: Math.min(...times), tflops: flops / median(times) / 1e9 });
      }
      if (withBackward && !tag.startsWith('f ')) {
        const r = ctx.recorder('bench backward');
        const inp = uploadAttentionInputs(ctx, r, p);
        const g = r.own(upload(ctx.device, ctx.limits, 'dout', dout));
        const reps = Math.ceil(REPS / 2);
        for (let i = 0; i < reps; i++) encodeAttentionBackward(ctx, r, p, inp, g);
        await r.run([]);
        const ks = ctx.lastTimings!.kernels;
        const per: Record<string, number[]> = {};
        ks.slice(4 * Math.floor(WARM / 2)).forEach((k) => (per[k.kernel] ??= []).push(k.ms));
        const bw = Object.fromEntries(Object.entries(per).map(([k, v]) => [k, median(v)]));
        const total = Object.values(bw).reduce((a, b) => a + b, 0);
        Object.assign(rec, { backward: bw, backwardKeys: ks.slice(0, 4).map((k) => k.key), backwardMs: total, backwardTflops: (3.5 * flops) / total / 1e9 });
      }
      console.log(
        `${c.name.padEnd(26)} ${tag.padEnd(36)} ` +
          (rec.ms !== undefined ? `fwd ${(rec.ms as number).toFixed(3)} ms ${(rec.tflops as number).toFixed(2)} TFLOP/s [${rec.key}]` : '') +
          (rec.backward ? ` bwd ${(rec.backwardMs as number).toFixed(3)} ms ${(rec.backwardTflops as number).toFixed(2)} TFLOP/s ${JSON.stringify(rec.backward)}` : ''),
      );
    } catch (e) {
      rec.error = (e as Error).message;
      console.log(`${c.name} ${tag}: ${(e as Error).message.split('\n')[0]}`);
    }
    results.push(rec);
  }
}
acq.release();
if (outFile) await writeJson(outFile, { device: acq.adapterInfo, results });
