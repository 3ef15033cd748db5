// Correctness of the WebGPU backend under Node + Dawn on a real GPU (the Deno suite covers lavapipe):
// exercises what lavapipe cannot, subgroup reductions and the tiles that need 48 KiB of workgroup
// memory, plus forced alternative tiles. Writes JSON (one record per case) to stdout or $1.
//   node check.mjs [out.json]
import { parseFlags } from '../../cli/flags.js';
import { writeJson } from '../../cli/write-json.js';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '../../gpu/index.js';
import type { MatmulArgs } from '../../src/types.js';
import {
  compareClose,
  GPU_TOL,
  layoutNonZeros,
  mulberry32,
  randomAttentionArgs,
  randomLayout,
  randomTensor,
  referenceAttention,
  referenceAttentionBackward,
  referenceMatmul,
  referenceSoftmax,
  type RandomAttentionOptions,
  type HostAttentionArgs,
} from '../../test/reference/index.js';
import { attentionBackwardProblem, attentionProblem, matmulProblem, softmaxProblem } from '../../test/deno/problems.js';

interface Record_ {
  backend: string;
  name: string;
  ok: boolean;
  maxAbsError: number;
  violations: number;
  ms: number;
  kernels?: unknown;
}
const records: Record_[] = [];

function record(backend: string, name: string, parts: [string, ArrayLike<number>, ArrayLike<number>][], ms: number, kernels: unknown): void {
  let ok = true;
  let maxAbsError = 0;
  let violations = 0;
  for (const [, got, want] of parts) {
    const r = compareClose(got, want, GPU_TOL);
    for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) ok = false;
    ok &&= r.ok;
    maxAbsError = Math.max(maxAbsError, r.maxAbsError);
    violations += r.violations;
  }
  records.push({ backend, name, ok, maxAbsError, violations, ms, kernels });
  console.log(`${ok ? 'ok  ' : 'FAIL'} [${backend}] ${name}: max abs error ${maxAbsError.toExponential(2)} (${ms.toFixed(0)} ms)`);
}

const CASES: [string, number, number, number, number, number, RandomAttentionOptions][] = [
  // name, B, H, block, R, D, options
  ['b16 D16', 1, 2, 16, 8, 16, {}],
  ['b32 D64 causal', 2, 2, 32, 6, 64, { causal: true }],
  ['b64 D64 rpe kpm-mul', 1, 2, 64, 4, 64, { rpe: true, keyPaddingMaskMode: 'mul' }],
  ['b64 D128 causal am-add', 1, 2, 64, 4, 128, { causal: true, attnMaskMode: 'add', fullyMaskedRows: [5] }],
  ['b128 D64 causal', 1, 2, 128, 3, 64, { causal: true }],
  ['b128 D256', 1, 1, 128, 2, 256, {}],
  ['b128 D80 all masks', 1, 2, 128, 2, 80, { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' }],
  ['b32 D20 empty rows', 1, 2, 32, 5, 20, { allowEmptyRows: true, density: 0.3 }],
  ['b16 D18', 1, 1, 16, 4, 18, { causal: true }],
  ['b16 D64 causal no diagonal', 1, 2, 16, 9, 64, { causal: true, allowEmptyRows: true, density: 0.4 }],
  ['b32 D64 causal all masks', 2, 2, 32, 6, 64, { causal: true, rpe: true, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }],
];

async function attentionCases(tag: string, b: WebGPUBackend, backward: boolean): Promise<void> {
  for (const [name, B, H, block, R, D, opts] of CASES) {
    const rng = mulberry32(name.length * 7919 + D);
    const args: HostAttentionArgs = randomAttentionArgs(rng, { ...opts, shape: { B, H, N: block * R, D, block, R } });
    let t = performance.now();
    const out = await b.attention(attentionProblem(args));
    record(tag, `attention ${name}`, [['out', out as Float32Array, referenceAttention(args)]], performance.now() - t, b.lastTimings);
    if (!backward) continue;
    const full = { ...args, dout: randomTensor(args.q.shape, rng) };
    t = performance.now();
    const g = (await b.attentionBackward(attentionBackwardProblem(full))) as { dq: Float32Array; dk: Float32Array; dv: Float32Array };
    const ms = performance.now() - t;
    const want = referenceAttentionBackward(full);
    record(tag, `attentionBackward ${name}`, [['dq', g.dq, want.dq], ['dk', g.dk, want.dk], ['dv', g.dv, want.dv]], ms, b.lastTimings);
  }
}

async function otherOps(tag: string, b: WebGPUBackend): Promise<void> {
  const rng = mulberry32(5);
  const layout = randomLayout(2, 4, 3, 0.6, rng, { block: 64, ensureRowNonEmpty: true });
  const nnz = layoutNonZeros(layout).length;
  for (const [transA, transB] of [[false, false], [true, true], [false, true], [true, false]]) {
    const sddArgs: MatmulArgs = {
      mode: 'sdd',
      a: randomTensor(transA ? [2, 2, 72, 256] : [2, 2, 256, 72], rng),
      b: randomTensor(transB ? [2, 2, 192, 72] : [2, 2, 72, 192], rng),
      layout, transA, transB,
    };
    let t = performance.now();
    record(tag, `sdd tA${+transA} tB${+transB}`, [['c', await b.matmul(matmulProblem(sddArgs)), referenceMatmul(sddArgs)]], performance.now() - t, b.lastTimings);
    const sp = { layout, data: randomTensor([2, nnz, 64, 64], rng).data, shape: [2, nnz, 64, 64] as [number, number, number, number] };
    const K = transA ? 256 : 192;
    const dsdArgs: MatmulArgs = { mode: 'dsd', a: sp, b: randomTensor(transB ? [2, 2, 100, K] : [2, 2, K, 100], rng), transA, transB };
    t = performance.now();
    record(tag, `dsd tA${+transA} tB${+transB}`, [['c', await b.matmul(matmulProblem(dsdArgs)), referenceMatmul(dsdArgs)]], performance.now() - t, b.lastTimings);
    const K2 = transB ? 192 : 256;
    const ddsArgs: MatmulArgs = { mode: 'dds', a: randomTensor(transA ? [2, 2, K2, 90] : [2, 2, 90, K2], rng), b: sp, transA, transB };
    t = performance.now();
    record(tag, `dds tA${+transA} tB${+transB}`, [['c', await b.matmul(matmulProblem(ddsArgs)), referenceMatmul(ddsArgs)]], performance.now() - t, b.lastTimings);
  }
  const sq = randomLayout(2, 4, 4, 0.6, rng, { block: 64, ensureDiagonal: true });
  const nz = layoutNonZeros(sq).length;
  const smArgs = {
    x: { layout: sq, data: randomTensor([2, nz, 64, 64], rng).data, shape: [2, nz, 64, 64] as [number, number, number, number] },
    scale: 0.3, causal: true, rpe: randomTensor([2, 2, 256, 256], rng),
  };
  const t = performance.now();
  record(tag, 'softmax causal rpe', [['y', await b.softmax(softmaxProblem(smArgs)), referenceSoftmax(smArgs)]], performance.now() - t, b.lastTimings);
}

const variants: [string, WebGPUBackendOptions][] = [
  ['default', {}],
  ['8x4 regs', {
    tileOverrides: {
      forward: { BR: 64, BC: 64, TY: 8, TX: 16 },
      dq: { BR: 64, BC: 64, TY: 8, TX: 16 },
      dkdv: { BR: 32, BC: 32, TY: 4, TX: 8 },
    },
  }],
  ['4x8 regs', { tileOverrides: { forward: { BR: 64, BC: 64, TY: 16, TX: 8 }, dq: { BR: 32, BC: 64, TY: 8, TX: 8 } } }],
  ['tall / per-block small', {
    tileOverrides: {
      forward: { BR: 128, BC: 64, TY: 16, TX: 16 },
      dq: { BR: 16, BC: 16, TY: 4, TX: 4 },
      dkdv: { BR: 32, BC: 32, TY: 8, TX: 8 },
    },
  }],
  ['gather 128', { tileOverrides: { forward: { BR: 32, BC: 128, TY: 8, TX: 32 }, dq: { BR: 16, BC: 64, TY: 4, TX: 16 } } }],
];
let failed = 0;
for (const [tag, options] of variants) {
  const b = await createWebGPUBackend(options);
  if (tag === 'default') console.log(JSON.stringify(b.info));
  try {
    await attentionCases(tag, b, true);
    if (tag === 'default') await otherOps(tag, b);
  } catch (e) {
    failed++;
    console.log(`ERROR [${tag}] ${(e as Error).stack}`);
  } finally {
    await b.close();
  }
}
failed += records.filter((r) => !r.ok).length;
const outFile = parseFlags({}).positionals[0];
if (outFile) await writeJson(outFile, { records, failed });
console.log(`${records.length} checks, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
