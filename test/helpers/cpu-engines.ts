// The CPU engines the determinism suites compare: plain SIMD on one thread, relaxed SIMD on one
// thread, plain SIMD on a pool of two. Made before a suite's tests and closed after them (with the
// task count a test may have forced put back).
import type { Test } from 'uvu';
import { createEngine, type Engine } from '../../src/engine.js';
import { forceTaskCount } from '../../src/cpu/tasks.js';

export interface CpuEngines {
  one: Engine;
  relaxed: Engine;
  two: Engine;
}

export function cpuEngines(s: Test): CpuEngines {
  const e = {} as CpuEngines;
  s.before(async () => {
    e.one = await createEngine({ backend: 'cpu', threads: 1, simd: 'simd' });
    e.relaxed = await createEngine({ backend: 'cpu', threads: 1, simd: 'relaxed' });
    e.two = await createEngine({ backend: 'cpu', threads: 2, simd: 'simd' });
  });
  s.after(async () => {
    forceTaskCount(undefined);
    await Promise.all([e.one, e.relaxed, e.two].map((x) => x.close()));
  });
  return e;
}
