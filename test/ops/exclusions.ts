// Every case of test/ops/cases.ts some place cannot run, with the reason (tfjs-backend-wasm's
// setup_test.ts habit): the suites register an excluded case as skipped and print the reason, so
// a gap shows in the counts and is never a silent pass. Add a case to the table, not here, unless
// a backend truly cannot run it.
import type { Op, OpCase } from './cases.js';

/** Where a suite runs: the CPU under Node, WebGPU under Deno (lavapipe in CI), the GPU machine. */
export type Place = 'cpu' | 'deno-webgpu' | 'gpu-machine';

export interface Exclusion {
  place: Place;
  /** Ops it applies to (all when absent). */
  ops?: readonly Op[];
  /** Case names it applies to. */
  names: RegExp;
  reason: string;
}

export const EXCLUSIONS: readonly Exclusion[] = [
];

/** The reason `op` of case `c` does not run at `place`, or null when it runs. */
export function exclusionOf(place: Place, op: Op, c: OpCase): string | null {
  for (const e of EXCLUSIONS) {
    if (e.place === place && (!e.ops || e.ops.includes(op)) && e.names.test(c.name)) return e.reason;
  }
  return null;
}
