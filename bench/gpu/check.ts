// Correctness of the WebGPU backend under Node + Dawn on a real GPU (the Deno suite covers lavapipe):
// exercises what lavapipe cannot, subgroup reductions and the tiles that need 48 KiB of workgroup
// memory, plus forced alternative tiles. Writes JSON (one record per case) to stdout or $1.
//   node check.mjs [out.json]
// Correctness of the WebGPU backend under Node + Dawn on a real GPU (the Deno suite covers lavapipe):
// every case of the op table (test/ops/cases.ts) against the float64 reference, with the default
// tiles, and the attention cases again with forced alternative tiles; exercises what lavapipe
// cannot (subgroup reductions, the tiles that need 48 KiB of workgroup memory). Cases the backend
// cannot run are skipped with their reason (test/ops/exclusions.ts, place 'gpu-machine').
// Then float16: the attention cases with half-float q, k, v, dout on an engine with Dawn's toggles
// (experimentalWebgpu: shader-f16 on NVIDIA), forward, lse, backward and decode over a float16 KV
// cache against the float64 reference of the half values within API.md's float16 tolerances, on
// the path engine.info.float16Ops names (recorded as the checks' backend).
// Writes JSON (one record per check) to stdout or $1; --only=float16 runs the float16 checks alone.
//   node check.mjs [out.json] [--only=float16]
import { parseFlags } from '../../cli/flags.js';
import { writeJson } from '../../cli/write-json.js';
import { createWebGPUBackend, type WebGPUBackendOptions } from '../../gpu/index.js';
import { createEngine } from '../../src/engine.js';
import { CASES, OPS, type Op } from '../../test/ops/cases.js';
import { exclusionOf } from '../../test/ops/exclusions.js';
import { attentionInputs } from '../../test/ops/inputs.js';
import { backendTarget, compareParts, runCase, toleranceOf, type OpTarget } from '../../test/ops/run.js';
import { compareClose } from '../../test/helpers/assert-close.js';
import { F16_BACKWARD, F16_FORWARD, f16Tolerance, halfCase, valuesOf, type F16Tolerance } from '../../test/helpers/float16.js';
import type { AttentionCase } from '../../test/ops/cases.js';
import type { Engine } from '../../src/engine.js';
import type { Float16Tensor } from '../../src/types.js';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../../test/reference/index.js';

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

async function runOps(tag: string, t: OpTarget, ops: readonly Op[], lastTimings: () => unknown): Promise<void> {
  for (const op of ops) {
    for (const c of CASES[op]) {
      const name = `${op} ${c.name}`;
      const why = exclusionOf('gpu-machine', op, c);
      if (why) {
        if (tag === 'default') console.log(`skip [${tag}] ${name}: ${why}`);
        continue;
      }
      const t0 = performance.now();
      let r: { ok: boolean; maxAbsError: number; violations: number };
      try {
        r = compareParts(await runCase(t, op, c, 'gpu-machine'), toleranceOf(t, c));
      } catch (e) {
        console.log(`ERROR [${tag}] ${name}: ${(e as Error).message}`);
        r = { ok: false, maxAbsError: Infinity, violations: 1 };
      }
      const ms = performance.now() - t0;
      records.push({ backend: tag, name, ...r, ms, kernels: lastTimings() });
      console.log(`${r.ok ? 'ok  ' : 'FAIL'} [${tag}] ${name}: max abs error ${r.maxAbsError.toExponential(2)} (${ms.toFixed(0)} ms)`);
    }
  }
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
const flags = parseFlags({ only: 'string' });
const only = flags.string('only', 'all');
if (only !== 'all' && only !== 'float16') throw new Error(`--only must be float16, got ${only}`);
let failed = 0;
const linearEngine = await createEngine({ backend: 'webgpu' });
for (const [tag, options] of only === 'all' ? variants : []) {
  const b = await createWebGPUBackend(options);
  if (tag === 'default') console.log(JSON.stringify(b.info));
  try {
    // the tile variants change the attention programs only
    await runOps(tag, backendTarget(b, linearEngine), tag === 'default' ? OPS : ['attention', 'attentionBackward'], () => b.lastTimings);
  } catch (e) {
    failed++;
    console.log(`ERROR [${tag}] ${(e as Error).stack}`);
  } finally {
    await b.close();
  }
}
await linearEngine.close();

/** One float16 check: `parts` (got, reference, tolerance) of a case, recorded under `tag`. */
async function checkF16(tag: string, name: string, run: () => Promise<[ArrayLike<number>, ArrayLike<number>, F16Tolerance][]>): Promise<void> {
  const t0 = performance.now();
  const r = { ok: true, maxAbsError: 0, violations: 0 };
  try {
    for (const [got, want, tol] of await run()) {
      const c = compareClose(got, want, f16Tolerance(want, tol));
      r.ok &&= c.ok;
      r.maxAbsError = Math.max(r.maxAbsError, c.maxAbsError);
      r.violations += c.violations;
    }
  } catch (e) {
    console.log(`ERROR [${tag}] ${name}: ${(e as Error).message}`);
    Object.assign(r, { ok: false, maxAbsError: Infinity, violations: 1 });
  }
  const ms = performance.now() - t0;
  records.push({ backend: tag, name, ...r, ms });
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} [${tag}] ${name}: max abs error ${r.maxAbsError.toExponential(2)} (${ms.toFixed(0)} ms)`);
}

/** Tokens from..to of k or v [B, Hkv, Nk, D]. */
function tokens(t: Float16Tensor, from: number, to: number): Float16Tensor {
  const [B, Hkv, Nk, D] = t.shape;
  const src = t.data as Uint16Array;
  const data = new Uint16Array(B * Hkv * (to - from) * D);
  for (let h = 0; h < B * Hkv; h++) data.set(src.subarray((h * Nk + from) * D, (h * Nk + to) * D), h * (to - from) * D);
  return { data, shape: [B, Hkv, to - from, D], dtype: 'float16' };
}

async function runFloat16(e: Engine): Promise<void> {
  const tag = `float16: ${e.info.float16Ops.attention}`;
  console.log(`float16 paths: ${JSON.stringify(e.info.float16Ops)}`);
  for (const op of ['attention', 'attentionBackward'] as const) {
    for (const c of CASES[op] as readonly AttentionCase[]) {
      if (exclusionOf('gpu-machine', op, c)) continue;
      await checkF16(tag, `${op} ${c.name}`, async () => {
        const { half, widened } = halfCase(attentionInputs(c));
        if (op === 'attention') {
          const { out, lse } = await e.attention({ ...half, returnLse: true });
          return [[valuesOf(out), referenceAttention(widened), F16_FORWARD], [lse.data, referenceLse(widened), F16_FORWARD]];
        }
        const g = await e.attentionBackward(half);
        const ref = referenceAttentionBackward(widened);
        return (['dq', 'dk', 'dv'] as const).map((k) => [valuesOf(g[k]), ref[k], F16_BACKWARD]);
      });
    }
  }
  // decode over a float16 KV cache (the split-KV path): GQA, one query and a few, causal
  const base = { kind: 'attention' as const, seed: 1620, B: 2, H: 8, Hkv: 2, block: 64, D: 64, R: 0 };
  const decode: AttentionCase[] = [
    { ...base, name: 'one query over 1000 tokens, causal', Nq: 1, Nk: 1000, opts: { causal: true } },
    { ...base, name: '7 queries over 3000 tokens, D 128', seed: 1621, D: 128, Nq: 7, Nk: 3000, opts: { causal: true } },
  ];
  for (const c of decode) {
    await checkF16(tag, `decode over a float16 KV cache: ${c.name}`, async () => {
      const { half, widened } = halfCase(attentionInputs(c));
      const [B, Hkv, Nk, D] = half.k.shape;
      const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: Nk + 64, dtype: 'float16' });
      try {
        await cache.append({ k: tokens(half.k, 0, Nk - 1), v: tokens(half.v, 0, Nk - 1) });
        await cache.append({ k: tokens(half.k, Nk - 1, Nk), v: tokens(half.v, Nk - 1, Nk) });
        const { k: _k, v: _v, dout: _d, ...rest } = half;
        const { out, lse } = await e.attention({ ...rest, kv: cache, returnLse: true });
        return [[valuesOf(out), referenceAttention(widened), F16_FORWARD], [lse.data, referenceLse(widened), F16_FORWARD]];
      } finally {
        cache.destroy();
      }
    });
  }
}

const f16Engine = await createEngine({ backend: 'webgpu', experimentalWebgpu: true });
try {
  await runFloat16(f16Engine);
} catch (e) {
  failed++;
  console.log(`ERROR [float16] ${(e as Error).stack}`);
} finally {
  await f16Engine.close();
}
failed += records.filter((r) => !r.ok).length;
const outFile = flags.positionals[0];
if (outFile) await writeJson(outFile, { records, failed });
console.log(`${records.length} checks, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
