// The naive plain-TypeScript baseline lives with the CPU attention bench (bench/naive.ts: loops
// over the kept blocks, no SIMD, no tiling); this finds it (bench-modules.ts) rather than keeping
// a second copy, and adapts it: it takes the engine's normalised problem, built here untimed.
// Not found: the baseline is skipped with a note.
import type { AttentionBackwardProblem, AttentionProblem } from '../backend.js';
import { attentionBackwardProblem, attentionProblem } from '../problems.js';
import type { Layout } from '../types.js';
import type { Op } from './results.js';
import type { Call, Inputs } from './workloads.js';
import { importBenchModule } from './bench-modules.js';

interface NaiveModule {
  naiveAttention(p: AttentionProblem): Float32Array;
  naiveAttentionBackward?(p: AttentionBackwardProblem): { dq: Float32Array; dk: Float32Array; dv: Float32Array };
}

export interface NaiveBaseline {
  /** Where it came from, for results.json. */
  source: string;
  ops: Op[];
  /** The timed call for these inputs; the problem (validation, compiled layout) is built here, untimed. */
  prepare(x: Inputs, layout: Layout, op: Op): Call;
}

export async function loadNaive(): Promise<NaiveBaseline | { skip: string }> {
  const mod = await importBenchModule('naive');
  if (typeof mod === 'string') return { skip: `the naive baseline: ${mod}` };
  if (typeof mod.naiveAttention !== 'function') return { skip: 'bench/naive.ts does not export naiveAttention' };
  return fromModule(mod as unknown as NaiveModule, 'bench/naive.ts');
}

function fromModule(mod: NaiveModule, source: string): NaiveBaseline {
  const backward = mod.naiveAttentionBackward;
  return {
    source,
    ops: backward ? ['forward', 'backward'] : ['forward'],
    prepare(x, layout, op) {
      const scale = 1 / Math.sqrt(x.D);
      if (op === 'forward') {
        const p = attentionProblem({ q: x.q, k: x.k, v: x.v, layout, scale });
        return async () => [mod.naiveAttention(p)];
      }
      const p = attentionBackwardProblem({ q: x.q, k: x.k, v: x.v, layout, scale, dout: x.dout });
      return async () => {
        const g = backward!(p);
        return [g.dq, g.dk, g.dv];
      };
    },
  };
}
