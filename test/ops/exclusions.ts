// Every case of test/ops/cases.ts some place cannot run, with the reason (tfjs-backend-wasm's
// setup_test.ts habit): the suites register an excluded case as skipped and print the reason, so
// a gap shows in the counts and is never a silent pass. Add a case to the table, not here, unless
// a backend truly cannot run it.
import type { Op, OpCase } from './cases.js';

/** Where a suite runs: the CPU under Node, WebGPU under Deno (lavapipe in CI), the GPU machine. */
export type Place = 'cpu' | 'deno-webgpu' | 'gpu-machine';

export interface Exclusion {
  places: readonly Place[];
  /** Ops it applies to (all when absent). */
  ops?: readonly Op[];
  /** The cases it applies to, by name or by what they hold. */
  names?: RegExp;
  when?: (c: OpCase) => boolean;
  /** 'exact zeros': only the +0 check of `exactZeros` is waived; the tolerance still holds. */
  waives?: 'case' | 'exact zeros';
  reason: string;
}

const GPU: readonly Place[] = ['deno-webgpu', 'gpu-machine'];
const ATTENTION: readonly Op[] = ['attention', 'attentionBackward'];
const MATMUL: readonly Op[] = ['sdd', 'dsd', 'dds'];
const blockOf = (c: OpCase) => ('block' in c ? c.block : 0);

export const EXCLUSIONS: readonly Exclusion[] = [
  // what the WebGPU backend does not do
  {
    places: GPU, ops: ATTENTION, when: (c) => blockOf(c) % 16 !== 0,
    reason: 'the WebGPU attention programs tile blocks that are multiples of 16 only (gpu/attention-common.ts chooseTile throws a RangeError naming layout.block)',
  },
  {
    places: GPU, ops: MATMUL, when: (c) => blockOf(c) % 4 !== 0,
    reason: 'the WebGPU matmul programs read blocks as vec4 rows: for block % 4 ≠ 0 the op rejects with a RangeError naming layout.block (gpu/matmul-common.ts blockEdge)',
  },
  {
    places: GPU, ops: ATTENTION, names: /^kpm of -3e38/,
    reason: 'WebGPU clamps mask values at or below MASKED (−1e30, gpu/buffers.ts) to its masked sentinel, so a key padding of −3e38 masks the key where the CPU keeps a finite score',
  },
  {
    places: GPU, ops: ['attentionBackward'], names: /rpe of \+3e38/,
    reason: "WebGPU's backward recomputes P as 2^(s − lse) from the forward's f32 lse: with scores past about 1e7 (here a bias clamped to 1e30) the row's log-sum is lost beside them and P is off (n keys of equal score read 1 each, not 1/n); the CPU recomputes the softmax online. The forward is right",
  },
  {
    places: GPU, ops: ['attentionBackward'], names: /^attnMask add causal, fully masked rows$/, waives: 'exact zeros',
    reason: "WebGPU's dq of a row that causal and an additive attnMask leave empty comes out ±1e-8, not +0 (within tolerance)",
  },
  {
    places: GPU, ops: ['attentionBackward'], names: /^mha lse: .* causal empty rows/, waives: 'exact zeros',
    reason: "WebGPU's dq of a row that causal leaves empty (its diagonal block not kept) comes out ±1e-9, not +0 (within tolerance)",
  },
  // what lavapipe is too slow for (every new block and head dim compiles its programs: 2–7 s an attention case)
  {
    places: ['deno-webgpu'], ops: ATTENTION, names: /^(?!webgpu )/,
    reason: "too slow on lavapipe: the CPU's and the GPU machine's attention cases (each new head dim compiles its programs, 2–7 s a case); the 'webgpu' cases run here",
  },
  {
    places: ['deno-webgpu'], ops: MATMUL, names: /^(random|large block) /,
    reason: 'too slow on lavapipe: the random and large-block matmul families (each new shape compiles its programs, about 0.5 s a case)',
  },
];

/** What `e` waives for `op` of case `c` at `place`. */
function applies(e: Exclusion, place: Place, op: Op, c: OpCase): boolean {
  return e.places.includes(place) && (!e.ops || e.ops.includes(op)) && (!e.names || e.names.test(c.name)) && (!e.when || e.when(c));
}

/** The reason `op` of case `c` does not run at `place`, or null when it runs. */
export function exclusionOf(place: Place, op: Op, c: OpCase): string | null {
  return EXCLUSIONS.find((e) => (e.waives ?? 'case') === 'case' && applies(e, place, op, c))?.reason ?? null;
}

/** Whether `op` of case `c` must give +0 where its reference is exactly 0, at `place`. */
export function demandsExactZeros(place: Place, op: Op, c: OpCase): boolean {
  return (c.exactZeros ?? false) && !EXCLUSIONS.some((e) => e.waives === 'exact zeros' && applies(e, place, op, c));
}
