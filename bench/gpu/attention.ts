// Steady-state kernel time of the fused attention on a real GPU, from timestamp queries
// (bench/gpu/kernel-timing.ts: inputs uploaded once per submission, the op encoded REPS times back to
// back, the first WARM dropped, unmeasured submissions of the same work right before). Each program
// row ("path") times on the same device in one run: f32 (float32 operands), f16 (half floats on the
// shader-f16 programs, the matrix units set aside) and mma (half floats on the matrix units, as the
// engine takes them where the adapter offers subgroup matrices); each record names the program that
// ran. TFLOP/s count the work of the kept blocks: 4·block²·D per block for the forward (half for
// diagonal blocks when causal), 2.5× that for dQ + dK/dV, plus the recomputed forward; versus rows
// also give the share of the matrix units' rate (MATRIX_UNITS_TFLOPS).
//   node attention.mjs [out.json] [--backward] [--sweep=forward|backward|all|none] [--quick] [--versus]
//                      [--paths=f32,f16,mma] [--dtype=float32|float16] [--experimental] [--seqs=N,…] [--rounds=R]
// --versus: issue 6's layout over N = 1024…65536 (B=1, H=16, D=64, block 128), as flex_attention.py;
// --seqs replaces those N (a smoke run: --seqs=256,512), --rounds=R times every row R times,
// interleaved (default 1): a record keeps the fastest round's median, and every round's.
// --paths: the rows (default f32, or f16 with --dtype=float16); f16 and mma open the device with
// Dawn's toggles (EXPERIMENTAL_DAWN_FEATURES), --experimental does so for f32 alone. A path the
// adapter cannot run (no shader-f16, no subgroup matrices) is a record with `skipped` and the reason.
// Writes JSON (one record per config × tile variant × path) when given a path.
import { encodeAttentionBackward } from '../../gpu/attention-backward.js';
import type { AttnKernel, TileOverride } from '../../gpu/attention-common.js';
import { encodeAttentionForward, uploadAttentionInputs } from '../../gpu/attention-forward.js';
import { mmaForwardBlocker } from '../../gpu/attention-forward-mma.js';
import { upload } from '../../gpu/buffers.js';
import type { MatrixSupport } from '../../gpu/device.js';
import type { AttentionProblem } from '../../src/backend.js';
import { compileLayout } from '../../src/layouts/compile.js';
import { toFloat16 } from '../../src/float16.js';
import type { Layout } from '../../src/types.js';
import { parseFlags } from '../../cli/flags.js';
import { mulberry32, uniformFloats } from '../../cli/random.js';
import { writeJson } from '../../cli/write-json.js';
import { benchDevice } from './bench-device.js';
import { timeCalls, WARM_MS, type TimedCalls } from './kernel-timing.js';
import { forwardFlops, MATRIX_UNITS_TFLOPS, VERSUS_SEQS, VERSUS_SHAPE, versusKeeps } from './versus-problem.js';

const flags = parseFlags({
  backward: 'bool', quick: 'bool', versus: 'bool', sweep: 'string', dtype: 'string', experimental: 'bool', paths: 'list', seqs: 'list', rounds: 'int',
});
const outFile = flags.positionals[0];
const withBackward = flags.bool('backward');
const quick = flags.bool('quick');
const sweep = flags.string('sweep', 'none');
const dtype = flags.string('dtype', 'float32');
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype must be float32 or float16, got ${dtype}`);
type Path = 'f32' | 'f16' | 'mma';
const PATHS: readonly Path[] = ['f32', 'f16', 'mma'];
const paths = flags.list('paths', [dtype === 'float16' ? 'f16' : 'f32']) as Path[];
for (const x of paths) if (!PATHS.includes(x)) throw new Error(`--paths takes ${PATHS.join(', ')}, got ${x}`);
const versus = flags.bool('versus');
const rounds = flags.int('rounds', 1, 1);
const REPS = 12;
const WARM = 4;

/** The program each path must run (forward, and the backward's recomputed forward), and the operands' dtype. */
const EXPECTED: Record<Path, { program: string; half: boolean }> = {
  f32: { program: 'AttentionForwardProgram', half: false },
  f16: { program: 'AttentionForwardProgram', half: true },
  mma: { program: 'AttentionForwardMmaProgram', half: true },
};

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
        if (pattern === 'versus') keep = versusKeeps(r, c);
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

const versusSeqs = flags.ints('seqs', VERSUS_SEQS);
const configs: Config[] = versus
  ? versusSeqs.map((N) => ({ name: `versus N${N}`, ...VERSUS_SHAPE, N, pattern: 'versus' as const, causal: false }))
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


const half = paths.some((x) => EXPECTED[x].half);
const { acq, ctx } = await benchDevice(half || flags.bool('experimental'));
const matrix: MatrixSupport = acq.matrix;
console.log(JSON.stringify({ ...acq.adapterInfo, limits: acq.limits, subgroupSize: acq.subgroupSize, features: acq.features, matrix, paths }));
if (!acq.timestampQuery) throw new Error('no timestamp-query on this adapter');
/** Why a path cannot run on this adapter at all, or null. */
const pathBlocker = (x: Path): string | null => {
  if (EXPECTED[x].half && !acq.features.includes('shader-f16')) return 'the adapter has no shader-f16';
  if (x === 'mma' && !matrix.available) return `no matrix units: ${matrix.reason}`;
  return null;
};
for (const x of paths) if (pathBlocker(x)) console.log(`path ${x} skipped: ${pathBlocker(x)}`);

type Rec = Record<string, unknown>;
/** What ran against what the path must run: an error message, or null. */
function wrongProgram(x: Path, t: TimedCalls): string | null {
  const first = t.ran[0];
  const want = EXPECTED[x];
  const isHalf = first?.kernel === 'AttentionForwardMmaProgram' || (first?.key.endsWith('/f16') ?? false);
  if (first?.kernel === want.program && isHalf === want.half) return null;
  return `path ${x} must run ${want.program}${want.half ? ' (f16)' : ''}, ran ${first ? `${first.kernel} [${first.key}]` : 'nothing'}`;
}

/** One timing of a forward (and backward) row of path x; fields for its record. */
async function timeRow(x: Path, c: Config, tag: string, p: AttentionProblem<Float32Array | Uint16Array>, dout: Float32Array | Uint16Array, flops: number): Promise<Rec> {
  const rec: Rec = {};
  // f16: the plain shader-f16 programs, the matrix units set aside for the row
  ctx.matrix = x === 'f16' ? { available: false, reason: 'the plain f16 row' } : matrix;
  try {
    if (x === 'mma') {
      const why = mmaForwardBlocker(ctx, p);
      if (why) return { skipped: why };
    }
    if (!tag.startsWith('b ')) {
      const t = await timeCalls(ctx, `bench forward ${x}`, (r) => {
        const inp = uploadAttentionInputs(ctx, r, p);
        return () => encodeAttentionForward(ctx, r, p, inp);
      }, REPS, WARM);
      Object.assign(rec, { program: t.ran[0]?.kernel, key: t.ran[0]?.key, ms: t.ms, minMs: t.minMs, maxMs: t.maxMs, tflops: flops / t.ms / 1e9 });
      const wrong = wrongProgram(x, t);
      if (wrong) rec.error = wrong;
    }
    if (withBackward && !tag.startsWith('f ')) {
      const t = await timeCalls(ctx, `bench backward ${x}`, (r) => {
        const inp = uploadAttentionInputs(ctx, r, p);
        const g = r.own(upload(ctx.device, ctx.limits, 'dout', dout));
        return () => encodeAttentionBackward(ctx, r, p, inp, g);
      }, Math.ceil(REPS / 2), Math.floor(WARM / 2));
      Object.assign(rec, {
        backward: t.perKernel, backwardPrograms: t.ran.map((k) => k.kernel), backwardKeys: t.ran.map((k) => k.key),
        backwardMs: t.ms, backwardMinMs: t.minMs, backwardMaxMs: t.maxMs, backwardTflops: (3.5 * flops) / t.ms / 1e9,
      });
      const wrong = wrongProgram(x, t);
      if (wrong) rec.error = [rec.error, `backward: ${wrong}`].filter(Boolean).join('; ');
    }
  } catch (e) {
    rec.error = (e as Error).message;
  } finally {
    ctx.matrix = matrix;
  }
  return rec;
}

const fmt = (ms: unknown, tflops: unknown) => `${(ms as number).toFixed(3)} ms ${(tflops as number).toPrecision(3)} TFLOP/s (${((100 * (tflops as number)) / MATRIX_UNITS_TFLOPS).toPrecision(2)}% of ${MATRIX_UNITS_TFLOPS})`;
const results: Rec[] = [];
for (const c of quick ? configs.slice(0, 3) : configs) {
  const R = c.N / c.block;
  const n = c.B * c.H * c.N * c.D;
  // operands drawn and converted once per problem, before any timing (host work lets the GPU clock down)
  const f32 = { q: uniformFloats(n, 1), k: uniformFloats(n, 2), v: uniformFloats(n, 3), dout: uniformFloats(n, 4) };
  const f16 = half ? { q: toFloat16(f32.q), k: toFloat16(f32.k), v: toFloat16(f32.v), dout: toFloat16(f32.dout) } : null;
  const layout = compileLayout(makeLayout(c.H, R, c.block, c.pattern, c.causal));
  const problemOf = (x: Path): AttentionProblem<Float32Array | Uint16Array> => {
    const o = EXPECTED[x].half ? f16! : f32;
    return {
      B: c.B, H: c.H, Hkv: c.H, N: c.N, Nk: c.N, kvStride: c.N, qOffset: new Int32Array(c.B), D: c.D, q: o.q, k: o.k, v: o.v,
      layout, scale: 1 / Math.sqrt(c.D), causal: c.causal, rpe: null, keyPadding: null, attnMask: null,
    };
  };
  const flops = forwardFlops(problemOf('f32'));
  console.log(`== ${c.name} at ${new Date().toISOString()}`); // beside the GPU's clocks where a log of them is kept (device-session.sh)
  const rows: { x: Path; tag: string; overrides: Overrides; rec: Rec; rounds: Rec[] }[] = [];
  for (const [tag, overrides] of variants) {
    for (const x of paths) {
      const rec: Rec = { tile: tag, path: x, ...c, dtype: EXPECTED[x].half ? 'float16' : 'float32', density: layout.density, gflop: flops / 1e9 };
      const why = pathBlocker(x) ?? (x === 'mma' && tag !== 'auto' ? 'tile overrides are for the register-tile programs' : null);
      if (why) rec.skipped = why;
      rows.push({ x, tag, overrides, rec, rounds: [] });
    }
  }
  // rows interleaved round by round, so that a slow stretch of the GPU hits every path alike
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      if (row.rec.skipped) continue;
      ctx.tileOverrides = row.overrides;
      row.rounds.push(await timeRow(row.x, c, row.tag, problemOf(row.x), EXPECTED[row.x].half ? f16!.dout : f32.dout, flops));
    }
  }
  ctx.tileOverrides = {};
  for (const { x, tag, rec, rounds: rs } of rows) {
    if (!rec.skipped) {
      // the fastest round's figures (the GPU at its clocks), every round's medians beside them
      const done = rs.filter((r) => r.skipped === undefined);
      if (done.length < rs.length) rec.skipped = rs[0].skipped;
      const best = (key: string) => done.filter((r) => typeof r[key] === 'number').sort((a, b) => (a[key] as number) - (b[key] as number))[0];
      const f = best('ms');
      const b = best('backwardMs');
      if (f) Object.assign(rec, { program: f.program, key: f.key, ms: f.ms, minMs: f.minMs, maxMs: f.maxMs, tflops: f.tflops, ofMatrixUnits: (f.tflops as number) / MATRIX_UNITS_TFLOPS });
      if (b) Object.assign(rec, {
        backward: b.backward, backwardPrograms: b.backwardPrograms, backwardKeys: b.backwardKeys, backwardMs: b.backwardMs, backwardTflops: b.backwardTflops,
      });
      if (f && b) Object.assign(rec, { stepMs: (f.ms as number) + (b.backwardMs as number), stepTflops: (4.5 * flops) / ((f.ms as number) + (b.backwardMs as number)) / 1e9 });
      if (rs.length > 1) Object.assign(rec, { roundsMs: rs.map((r) => r.ms ?? null), roundsBackwardMs: rs.map((r) => r.backwardMs ?? null) });
      const errors = [...new Set(rs.map((r) => r.error).filter(Boolean))];
      if (errors.length) rec.error = errors.join('; ');
    }
    const head = `${c.name.padEnd(26)} ${tag.padEnd(28)} ${x.padEnd(4)}`;
    if (rec.skipped) console.log(`${head} skipped: ${rec.skipped}`);
    else
      console.log(
        head +
          (rec.ms !== undefined ? ` fwd ${fmt(rec.ms, rec.tflops)} [${rec.program} ${rec.key}]` : '') +
          (rec.backwardMs !== undefined ? ` bwd ${fmt(rec.backwardMs, rec.backwardTflops)} ${JSON.stringify(rec.backward)}` : '') +
          (rec.roundsMs ? ` rounds ${JSON.stringify(rec.roundsMs)}` : '') +
          (rec.error ? ` ERROR ${String(rec.error).split('\n')[0]}` : ''),
      );
    results.push(rec);
  }
}
acq.release();
if (outFile) {
  await writeJson(outFile, {
    device: acq.adapterInfo, features: acq.features, matrix, experimental: half || flags.bool('experimental'), paths, rounds,
    timing: { reps: REPS, dropped: WARM, warmMs: WARM_MS }, matrixUnitsTflops: MATRIX_UNITS_TFLOPS, results,
  });
}
