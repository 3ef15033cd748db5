// The matrix-unit (subgroup-matrix) attention forward and backward on a real GPU: correctness against
// float64 of the half-float inputs on small shapes (the forward with every tile, the backward's dQ,
// dK and dV within API.md's float16 backward tolerance), then kernel time over issue 16's sweep (B1
// H16 D64, block 128, each block row keeping itself, the 3 blocks before it and every 8th block
// column; N = 1024 … 65536) beside the f32 forward and the plain f16 one, and the backward (forward
// recomputed, delta, dQ, dK/dV) on the matrix units beside the plain f16 one, timed as
// bench/gpu/kernel-timing.ts times (REPS back to back in one submission, the first WARM dropped,
// unmeasured submissions right before). Needs Dawn with EngineOptions.experimentalWebgpu's toggles.
//   node mma.mjs [out.json] [--quick] [--seqs=N,…] [--D=d] [--sweep-only]   (--quick: N 16384 twice; --seqs: these N
//   instead; --D: the sweep's head dim; --sweep-only: no checks)
import { encodeAttentionForward, uploadAttentionInputs, type AttentionInputs } from '../../gpu/attention-forward.js';
import { encodeAttentionBackward } from '../../gpu/attention-backward.js';
import { MMA_BACKWARD_TILES, mmaBackwardBlocker, mmaBackwardTileName, type MmaBackwardTile } from '../../gpu/attention-backward-mma.js';
import { upload } from '../../gpu/buffers.js';
import { MMA_TILES, mmaForwardBlocker, mmaForwardDispatch, mmaTileName, type MmaTile } from '../../gpu/attention-forward-mma.js';
import type { GpuContext } from '../../gpu/context.js';
import type { AttentionProblem } from '../../src/backend.js';
import { fromFloat16, toFloat16 } from '../../src/float16.js';
import { compileLayout } from '../../src/layouts/compile.js';
import { parseFlags } from '../../cli/flags.js';
import { uniformFloats } from '../../cli/random.js';
import { writeJson } from '../../cli/write-json.js';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../../test/reference/attention.js';
import { F16_BACKWARD } from '../../test/helpers/float16.js';
import { benchDevice } from './bench-device.js';
import { timeCalls } from './kernel-timing.js';
import { forwardFlops, MATRIX_UNITS_TFLOPS, VERSUS_SEQS, VERSUS_SHAPE, versusLayout } from './versus-problem.js';

const flags = parseFlags({ quick: 'bool', seqs: 'list', D: 'int', 'sweep-only': 'bool', rounds: 'int', 'forward-only': 'bool' });
const outFile = flags.positionals[0];
const REPS = 12;
/** The tiles to time: the library's (fastest first as measured) and candidates it does not list. */
const TILES: readonly MmaTile[] = [
  ...MMA_TILES,
  { groups: 2, subgroups: 1, keys: 64, stage: false },
  { groups: 2, subgroups: 1, keys: 16, stage: false },
  { groups: 1, subgroups: 4, keys: 32, stage: true },
  { groups: 2, subgroups: 4, keys: 16, stage: true },
  { groups: 1, subgroups: 8, keys: 32, stage: true },
  { groups: 1, subgroups: 8, keys: 16, stage: true, double: true },
  { groups: 2, subgroups: 4, keys: 16, stage: true, double: true },
  { groups: 1, subgroups: 8, keys: 32, stage: true, double: true },
];
/** Rounds of the forward tiles, interleaved (the GPU's clocks drift between rows): each tile's faster round is kept, every round in the JSON. */
const ROUNDS = flags.int('rounds', 1);
/** The backward's tiles to time (each that fits the workgroup memory of both programs). */
const BACKWARD_TILES: readonly MmaBackwardTile[] = [...MMA_BACKWARD_TILES, { groups: 2, subgroups: 4, step: 16, stage: true }];
const WARM = 4;

interface Shape {
  B: number;
  H: number;
  Hkv: number;
  N: number;
  D: number;
  block: number;
  causal: boolean;
  /** q scaled by this (a power of 2: exact in f16), for scores whose running max keeps growing (the lazy rescale). */
  amp?: number;
}

function problem(s: Shape, seed: number): AttentionProblem {
  const nq = s.B * s.H * s.N * s.D;
  const nk = s.B * s.Hkv * s.N * s.D;
  // values representable in f16, so the f32 path and the reference see the same inputs
  const half = (x: Float32Array) => fromFloat16(toFloat16(x));
  return {
    B: s.B, H: s.H, Hkv: s.Hkv, N: s.N, Nk: s.N, kvStride: s.N, qOffset: new Int32Array(s.B), D: s.D,
    q: half(uniformFloats(nq, seed).map((x) => x * (s.amp ?? 1))), k: half(uniformFloats(nk, seed + 1)), v: half(uniformFloats(nk, seed + 2)),
    layout: compileLayout(versusLayout(s.H, s.N / s.block, s.block, s.causal)),
    scale: 1 / Math.sqrt(s.D), causal: s.causal, rpe: null, keyPadding: null, attnMask: null,
  };
}

const { acq, ctx } = await benchDevice(true);
console.log(JSON.stringify({ ...acq.adapterInfo, features: acq.features, subgroupSize: acq.subgroupSize, matrix: acq.matrix }));

type Rec = ReturnType<GpuContext['recorder']>;
const halfProblem = (p: AttentionProblem): AttentionProblem<Uint16Array> => ({ ...p, q: toFloat16(p.q), k: toFloat16(p.k), v: toFloat16(p.v) });
const halfInputs = (rec: Rec, p: AttentionProblem): AttentionInputs => uploadAttentionInputs(ctx, rec, halfProblem(p));
/** Dispatches the matrix-unit forward with a given tile; returns its out (f16) and stats buffers. */
function encodeMma(rec: Rec, p: AttentionProblem, inp: AttentionInputs, tile?: MmaTile): { out: GPUBuffer; stats: GPUBuffer } {
  const rows = p.B * p.H * p.N;
  const out = rec.output('out', rows * p.D * 2);
  const stats = rec.output('stats', 2 * rows * 4);
  const d = mmaForwardDispatch(ctx, p, inp, true, tile);
  rec.dispatch(d.program, [inp.q, inp.k, inp.v, inp.tables.buffer, inp.bias.buffer, out, stats], d.uniforms, d.workgroups);
  return { out, stats };
}

const checks: Record<string, unknown>[] = [];
const cases: Shape[] = [
  { B: 1, H: 2, Hkv: 2, N: 512, D: 64, block: 64, causal: false },
  { B: 1, H: 2, Hkv: 2, N: 512, D: 64, block: 128, causal: true },
  { B: 2, H: 4, Hkv: 2, N: 256, D: 128, block: 32, causal: false },
  { B: 1, H: 2, Hkv: 1, N: 256, D: 32, block: 16, causal: true },
  { B: 1, H: 1, Hkv: 1, N: 512, D: 256, block: 64, causal: true },
  { B: 1, H: 2, Hkv: 2, N: 1024, D: 64, block: 64, causal: true, amp: 16 },
];
for (const s of flags.bool('sweep-only') ? [] : cases) {
  const shapeName = `B${s.B} H${s.H}/${s.Hkv} N${s.N} D${s.D} b${s.block}${s.causal ? ' causal' : ''}${s.amp ? ` q×${s.amp}` : ''}`;
  const p = problem(s, 11);
  const why = mmaForwardBlocker(ctx, p);
  if (why) {
    console.log(`skip ${shapeName}: ${why}`);
    checks.push({ name: shapeName, skipped: why });
    continue;
  }
  // the backend's own choice (half floats take the matrix units: forwardDispatch), then every tile timed below
  for (const tile of [undefined, ...TILES]) {
    const name = `${shapeName} ${tile ? mmaTileName(tile) : 'default'}`;
    if (tile && (tile.keys > s.block || 16 * tile.groups * tile.subgroups > s.block)) continue;
    try {
      const rec = ctx.recorder('mma check');
      const inp = halfInputs(rec, p);
      const { out, stats } = tile ? encodeMma(rec, p, inp, tile) : encodeAttentionForward(ctx, rec, halfProblem(p), inp);
      const rows = p.B * p.H * p.N;
      const [o, st] = await rec.run([{ buffer: out, bytes: rows * p.D * 2 }, { buffer: stats, bytes: rows * 4 }]);
      const ran = ctx.lastTimings?.kernels[0]?.kernel ?? '';
      if (ran !== 'AttentionForwardMmaProgram') throw new Error(`the matrix-unit program did not run (${ran})`);
      const got = fromFloat16(new Uint16Array(o));
      const lse = new Float32Array(st);
      const args = {
        q: { data: p.q, shape: [s.B, s.H, s.N, s.D] }, k: { data: p.k, shape: [s.B, s.Hkv, s.N, s.D] }, v: { data: p.v, shape: [s.B, s.Hkv, s.N, s.D] },
        layout: versusLayout(s.H, s.N / s.block, s.block, s.causal), causal: s.causal,
      };
      const ref = referenceAttention(args);
      const refLse = referenceLse(args);
      let maxRef = 0;
      for (const x of ref) maxRef = Math.max(maxRef, Math.abs(x));
      let bad = 0;
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) {
        const err = Math.abs(got[i] - ref[i]);
        maxErr = Math.max(maxErr, err);
        if (!(err <= 2e-3 * maxRef + 5e-3 * Math.abs(ref[i]))) bad++;
      }
      let maxLse = 0;
      for (const x of refLse) if (Number.isFinite(x)) maxLse = Math.max(maxLse, Math.abs(x));
      let badLse = 0;
      for (let i = 0; i < refLse.length; i++) {
        const r = refLse[i];
        const ok = Number.isFinite(r) ? Math.abs(lse[i] - r) <= 2e-3 * maxLse + 5e-3 * Math.abs(r) : lse[i] <= -1e29;
        if (!ok) badLse++;
      }
      const ok = bad === 0 && badLse === 0;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max abs error ${maxErr.toExponential(2)} (max |ref| ${maxRef.toFixed(3)}), ${bad} out and ${badLse} lse outside the tolerance`);
      checks.push({ name, ok, maxErr, bad, badLse });
    } catch (e) {
      console.log(`ERROR ${name}: ${(e as Error).message}`);
      checks.push({ name, ok: false, error: (e as Error).message });
    }
  }
  await checkBackward(s, shapeName, p);
}

/** Whether every value is within F16_BACKWARD of float64's (scale of the largest |ref|, plus rtol). */
function backwardErrors(got: Float32Array, ref: Float64Array): { bad: number; maxErr: number } {
  let maxRef = 0;
  for (const x of ref) maxRef = Math.max(maxRef, Math.abs(x));
  let bad = 0;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    maxErr = Math.max(maxErr, err);
    if (!(err <= F16_BACKWARD.scale * maxRef + F16_BACKWARD.rtol * Math.abs(ref[i]))) bad++;
  }
  return { bad, maxErr };
}

/** dQ, dK, dV of the half problem against float64: the backend's choice (the matrix units where mmaBackwardBlocker allows), then each tile. */
async function checkBackward(s: Shape, shapeName: string, p: AttentionProblem): Promise<void> {
  const why = mmaBackwardBlocker(ctx, p);
  if (why) {
    console.log(`skip ${shapeName} backward: ${why}`);
    checks.push({ name: `${shapeName} backward`, skipped: why });
    return;
  }
  const dout = fromFloat16(toFloat16(uniformFloats(p.q.length, 29)));
  const hp = halfProblem(p);
  const kvN = s.B * s.Hkv * s.N * s.D;
  const ref = referenceAttentionBackward({
    q: { data: p.q, shape: [s.B, s.H, s.N, s.D] }, k: { data: p.k, shape: [s.B, s.Hkv, s.N, s.D] }, v: { data: p.v, shape: [s.B, s.Hkv, s.N, s.D] },
    dout: { data: dout, shape: [s.B, s.H, s.N, s.D] }, layout: versusLayout(s.H, s.N / s.block, s.block, s.causal), causal: s.causal,
  });
  for (const tile of [undefined, ...BACKWARD_TILES]) {
    const name = `${shapeName} backward ${tile ? mmaBackwardTileName(tile) : 'default'}`;
    if (tile && (tile.step > s.block || 16 * tile.groups * tile.subgroups > s.block)) continue;
    try {
      const rec = ctx.recorder('mma backward check');
      const inp = uploadAttentionInputs(ctx, rec, hp);
      const g = rec.own(upload(ctx.device, ctx.limits, 'dout', toFloat16(dout)));
      const { dq, dkv } = encodeAttentionBackward(ctx, rec, hp, inp, g, tile);
      const [dqBytes, dkvBytes] = await rec.run([{ buffer: dq, bytes: p.q.length * 2 }, { buffer: dkv, bytes: 2 * kvN * 2 }]);
      const ran = (ctx.lastTimings?.kernels ?? []).map((k) => k.kernel);
      for (const want of ['AttentionDqMmaProgram', 'AttentionDkDvMmaProgram']) if (!ran.includes(want)) throw new Error(`${want} did not run (${ran.join(', ')})`);
      const dkvAll = fromFloat16(new Uint16Array(dkvBytes));
      const parts = {
        dq: backwardErrors(fromFloat16(new Uint16Array(dqBytes)), ref.dq),
        dk: backwardErrors(dkvAll.subarray(0, kvN), ref.dk),
        dv: backwardErrors(dkvAll.subarray(kvN), ref.dv),
      };
      const ok = Object.values(parts).every((x) => x.bad === 0);
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${Object.entries(parts).map(([k, x]) => `${k} max abs error ${x.maxErr.toExponential(2)}, ${x.bad} outside`).join('; ')}`);
      checks.push({ name, ok, ...parts });
    } catch (e) {
      console.log(`ERROR ${name}: ${(e as Error).message.split('\n')[0]}`);
      checks.push({ name, ok: false, error: (e as Error).message });
    }
  }
}

function fmtRow(x: unknown): string {
  const t = x as { ms?: number; tflops?: number; error?: string; skipped?: string } | undefined;
  return t?.ms !== undefined ? `${t.ms.toFixed(3)} ms ${t.tflops!.toPrecision(3)} TFLOP/s${t.error ? ` (${t.error})` : ''}` : (t?.error ?? t?.skipped ?? '-');
}

const sweep = flags.ints('seqs', flags.bool('quick') ? [16384, 16384] : VERSUS_SEQS);
const results: Record<string, unknown>[] = [];
for (const N of sweep) {
  const s: Shape = { ...VERSUS_SHAPE, Hkv: VERSUS_SHAPE.H, N, causal: false, D: flags.int('D', VERSUS_SHAPE.D) };
  const p = problem(s, 3);
  // the half operands converted once, before any row is timed (host work lets the GPU clock down)
  const hp = halfProblem(p);
  const flops = forwardFlops(p);
  const rec: Record<string, unknown> = { ...s, density: p.layout.density, gflop: flops / 1e9 };
  /** `work`: the call's FLOPs in forwards (the backward's 3.5: the forward again, then 2.5 of products). */
  const time = async (label: string, want: string, encode: (r: Rec) => () => void, work = 1): Promise<void> => {
    const before = rec[label] as { ms?: number; rounds?: number[] } | undefined;
    try {
      const t = await timeCalls(ctx, label, encode, REPS, WARM);
      const ran = t.ran[0];
      const rounds = [...(before?.rounds ?? []), t.ms];
      if (before?.ms !== undefined && before.ms <= t.ms) {
        before.rounds = rounds;
        return;
      }
      rec[label] = { ms: t.ms, minMs: t.minMs, maxMs: t.maxMs, tflops: (work * flops) / t.ms / 1e9, program: ran?.kernel, key: ran?.key, kernels: t.perKernel, rounds };
      if (ran?.kernel !== want) (rec[label] as Record<string, unknown>).error = `must run ${want}, ran ${ran?.kernel}`;
    } catch (e) {
      if (before?.ms === undefined) rec[label] = { error: (e as Error).message };
    }
  };
  await time('f32', 'AttentionForwardProgram', (r) => {
    const inp = uploadAttentionInputs(ctx, r, p);
    return () => encodeAttentionForward(ctx, r, p, inp);
  });
  const why = mmaForwardBlocker(ctx, p);
  if (!why) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of TILES) {
        await time(`mma ${mmaTileName(t)}`, 'AttentionForwardMmaProgram', (r) => {
          const inp = uploadAttentionInputs(ctx, r, hp);
          return () => encodeMma(r, p, inp, t);
        });
      }
    }
  } else rec.mma = { skipped: why };
  if (flags.bool('forward-only')) {
    console.log(`N ${String(N).padStart(6)}  f32 ${fmtRow(rec.f32)}   mma ${why ?? TILES.map((t) => `${mmaTileName(t)} ${fmtRow(rec[`mma ${mmaTileName(t)}`])}`).join('  ')}`);
    results.push(rec);
    continue;
  }
  // the plain shader-f16 program, the matrix units set aside
  const matrix = ctx.matrix;
  ctx.matrix = { available: false, reason: 'timing the plain f16 path' };
  if (acq.features.includes('shader-f16')) {
    await time('f16', 'AttentionForwardProgram', (r) => {
      const inp = uploadAttentionInputs(ctx, r, hp);
      return () => encodeAttentionForward(ctx, r, hp, inp);
    });
  } else rec.f16 = { skipped: 'the adapter has no shader-f16' };
  // the backward (forward recomputed, delta, dQ, dK/dV) on the f16 shaders, then on the matrix units
  const dout = toFloat16(uniformFloats(p.q.length, 4));
  const backward = (tile?: MmaBackwardTile) => (r: Rec) => {
    const inp = uploadAttentionInputs(ctx, r, hp);
    const g = r.own(upload(ctx.device, ctx.limits, 'dout', dout));
    return () => encodeAttentionBackward(ctx, r, hp, inp, g, tile);
  };
  if (acq.features.includes('shader-f16')) await time('bwd f16', 'AttentionForwardProgram', backward(), 3.5);
  ctx.matrix = matrix;
  const whyBackward = mmaBackwardBlocker(ctx, p);
  if (!whyBackward) {
    await time('bwd mma', 'AttentionForwardMmaProgram', backward(), 3.5);
    for (const t of BACKWARD_TILES) await time(`bwd mma ${mmaBackwardTileName(t)}`, 'AttentionForwardMmaProgram', backward(t), 3.5);
  } else rec['bwd mma'] = { skipped: whyBackward };
  console.log(`N ${String(N).padStart(6)}  f32 ${fmtRow(rec.f32)}  f16 ${fmtRow(rec.f16)}   mma ${why ?? TILES.map((t) => `${mmaTileName(t)} ${fmtRow(rec[`mma ${mmaTileName(t)}`])}`).join('  ')}`);
  console.log(`         backward (forward included, TFLOP/s of 3.5× the forward's): f16 ${fmtRow(rec['bwd f16'])}  mma ${fmtRow(rec['bwd mma'])}  ${BACKWARD_TILES.map((t) => `${mmaBackwardTileName(t)} ${fmtRow(rec[`bwd mma ${mmaBackwardTileName(t)}`])}`).join('  ')}`);
  results.push(rec);
}
acq.release();
if (outFile) await writeJson(outFile, { device: acq.adapterInfo, matrix: acq.matrix, matrixUnitsTflops: MATRIX_UNITS_TFLOPS, checks, results });
