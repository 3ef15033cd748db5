// Tasks for the diagnosticFill kernel, shared by the pool suites of Node (test/pool.test.ts) and
// Deno (test/deno/pool.test.ts): each task fills its own range of Wasm memory with one value.
import type { KernelArgs } from '../../src/cpu/kernels.js';

type FillTask = KernelArgs<'diagnosticFill'>;

/** Disjoint ranges of awkward lengths (not multiples of 4) from byte `base`, one value each. */
export function fillTasks(base: number, count: number, length: number, value0: number): FillTask[] {
  const tasks: FillTask[] = [];
  let p = base;
  for (let i = 0; i < count; i++) {
    const n = length + (i % 3);
    tasks.push({ p, count: n, value: value0 + i + 0.25 });
    p += 4 * n;
  }
  return tasks;
}

/** Throws unless every range of `tasks` holds its value. */
export function expectFilled(memory: WebAssembly.Memory, tasks: readonly FillTask[], label: string): void {
  for (const { p: ptr, count: n, value } of tasks) {
    const view = new Float32Array(memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) {
      if (view[i] !== Math.fround(value)) throw new Error(`${label}: float ${i} of the range at ${ptr} is ${view[i]}, expected ${value}`);
    }
  }
}
