// The op suites on the CPU: every case of test/ops/cases.ts, one uvu suite per op, through
// createEngine({ backend: 'cpu', threads: 1 }) on both SIMD builds, against the float64 reference
// (test/ops/run.ts). Cases the CPU cannot run are skipped with their reason (test/ops/exclusions.ts).
// Threads, tasks and worker pools (bitwise identity) stay in the per-op files (cpu-*.test.ts).
import { suite } from 'uvu';
import { BlockSparseLinear } from '../src/linear/index.js';
import { createEngine } from '../src/engine.js';
import { CASES, OPS } from './ops/cases.js';
import { exclusionOf } from './ops/exclusions.js';
import { assertParts, engineTarget, runCase, toleranceOf, type OpTarget } from './ops/run.js';

const BUILDS = ['simd', 'relaxed'] as const;

const engines = await Promise.all(BUILDS.map((simd) => createEngine({ backend: 'cpu', threads: 1, simd })));
const targets: [string, OpTarget][] = BUILDS.map((b, i) => [b, engineTarget(engines[i])]);

OPS.forEach((op, n) => {
  const s = suite(op);
  for (const [build, t] of targets) {
    for (const c of CASES[op]) {
      const name = `${build}: ${c.name}`;
      const why = exclusionOf('cpu', op, c);
      if (why) {
        console.log(`  skipped ${op} ${name}: ${why}`);
        s.skip(name, () => {});
        continue;
      }
      s(name, async () => assertParts(await runCase(t, op, c, 'cpu'), toleranceOf(t, c), `${op} ${name}`));
    }
  }
  if (n === OPS.length - 1) {
    s.after(async () => {
      for (const e of engines) await e.close();
      await BlockSparseLinear.closeSharedEngine();
    });
  }
  s.run();
});
