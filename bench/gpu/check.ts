// Correctness of the WebGPU backend under Node + Dawn on a real GPU (the Deno suite covers lavapipe):
// exercises what lavapipe cannot, subgroup reductions and the tiles that need 48 KiB of workgroup
// memory, plus forced alternative tiles. Writes JSON (one record per case) to stdout or $1.
//   node check.mjs [out.json]
// Correctness of the WebGPU backend under Node + Dawn on a real GPU (the Deno suite covers lavapipe):
// every case of the op table (test/ops/cases.ts) against the float64 reference, with the default
// tiles, and the attention cases again with forced alternative tiles; exercises what lavapipe
// cannot (subgroup reductions, the tiles that need 48 KiB of workgroup memory). Cases the backend
// cannot run are skipped with their reason (test/ops/exclusions.ts, place 'gpu-machine').
// Writes JSON (one record per check) to stdout or $1.
//   node check.mjs [out.json]
import { parseFlags } from '../../cli/flags.js';
import { writeJson } from '../../cli/write-json.js';
import { createWebGPUBackend, type WebGPUBackendOptions } from '../../gpu/index.js';
import { createEngine } from '../../src/engine.js';
import { CASES, OPS, type Op } from '../../test/ops/cases.js';
import { exclusionOf } from '../../test/ops/exclusions.js';
import { backendTarget, compareParts, runCase, toleranceOf, type OpTarget } from '../../test/ops/run.js';

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
let failed = 0;
const linearEngine = await createEngine({ backend: 'webgpu' });
for (const [tag, options] of variants) {
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
failed += records.filter((r) => !r.ok).length;
const outFile = parseFlags({}).positionals[0];
if (outFile) await writeJson(outFile, { records, failed });
console.log(`${records.length} checks, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
