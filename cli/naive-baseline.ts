// The naive plain-TypeScript baseline (naive.ts) as a run of the bench: it takes the engine's
// normalised problem, built here untimed, so that only the loops are timed.
import { attentionBackwardProblem, attentionProblem } from '../src/problems.js';
import type { Layout } from '../src/types.js';
import { naiveAttention, naiveAttentionBackward } from './naive.js';
import type { Op } from './results.js';
import type { Call, Inputs } from './workloads.js';

export interface NaiveBaseline {
  /** Where it came from, for results.json. */
  source: string;
  ops: Op[];
  /** The timed call for these inputs; the problem (validation, compiled layout) is built here, untimed. */
  prepare(x: Inputs, layout: Layout, op: Op): Call;
}

export const naiveBaseline: NaiveBaseline = {
  source: 'cli/naive.ts',
  ops: ['forward', 'backward'],
  prepare(x, layout, op) {
    const scale = 1 / Math.sqrt(x.D);
    if (op === 'forward') {
      const p = attentionProblem({ q: x.q, k: x.k, v: x.v, layout, scale });
      return async () => [naiveAttention(p)];
    }
    const p = attentionBackwardProblem({ q: x.q, k: x.k, v: x.v, layout, scale, dout: x.dout });
    return async () => {
      const g = naiveAttentionBackward(p);
      return [g.dq, g.dk, g.dv];
    };
  },
};
