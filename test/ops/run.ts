// Runs a case of test/ops/cases.ts on a backend and sets the result beside the float64 reference.
// A backend is reached through an OpTarget: the public Engine (the CPU suite, BlockSparseLinear
// everywhere) or a Backend fed the engine's normalised problems (the WebGPU suites, which force
// tiles through createWebGPUBackend's options).
import type { Backend } from '../../src/backend.js';
import type { Engine } from '../../src/engine.js';
import { BlockSparseLinear } from '../../src/linear/index.js';
import type { MatmulArgs, SoftmaxArgs, SoftmaxBackwardArgs } from '../../src/types.js';
import { assertClose, compareClose, CPU_TOL, GPU_TOL, type Tolerance } from '../helpers/assert-close.js';
import { denseLinear64, denseLinearBackward64 } from '../helpers/linear.js';
import type { HostAttentionArgs, HostAttentionBackwardArgs } from '../helpers/random.js';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../reference/attention.js';
import { referenceMatmul } from '../reference/matmul.js';
import { referenceSoftmax, referenceSoftmaxBackward } from '../reference/softmax.js';
import { denseFromSparse, layoutNonZeros, sparseFromDense64 } from '../reference/sparse.js';
import type { RefMatmulArgs } from '../reference/types.js';
import { attentionBackwardProblem, attentionProblem, matmulProblem, softmaxBackwardProblem, softmaxProblem } from '../deno/problems.js';
import type { Op, OpCase, ToleranceClass } from './cases.js';
import { demandsExactZeros, type Place } from './exclusions.js';
import { attentionInputs, linearInputs, matmulInputs, softmaxBackwardInputs, softmaxInputs } from './inputs.js';

export type BackendKind = 'cpu' | 'webgpu';

export interface Gradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

export interface OpTarget {
  backend: BackendKind;
  attention(a: HostAttentionArgs): Promise<Float32Array>;
  /** attention with returnLse: out and lse [B, Hq, N]. */
  attentionWithLse(a: HostAttentionArgs): Promise<{ out: Float32Array; lse: Float32Array }>;
  attentionBackward(a: HostAttentionBackwardArgs): Promise<Gradients>;
  matmul(a: MatmulArgs): Promise<Float32Array>;
  softmax(a: SoftmaxArgs): Promise<Float32Array>;
  softmaxBackward(a: SoftmaxBackwardArgs): Promise<Float32Array>;
  /** The engine BlockSparseLinear runs on. */
  linearEngine: Engine;
}

/** The tolerance of each class on each backend (API.md). */
export const TOLERANCES: { readonly [c in ToleranceClass]: { readonly [b in BackendKind]: Tolerance } } = {
  api: { cpu: CPU_TOL, webgpu: GPU_TOL },
};

function sameShape(got: readonly number[], want: readonly number[], what: string): void {
  if (got.length !== want.length || got.some((x, i) => x !== want[i])) throw new Error(`${what}: shape [${got}], expected [${want}]`);
}

/** The public API: what a user calls; also checks the shapes of what comes back. */
export function engineTarget(engine: Engine): OpTarget {
  return {
    backend: engine.backend,
    linearEngine: engine,
    async attention(a) {
      const out = await engine.attention(a);
      sameShape(out.shape, a.q.shape, 'attention out');
      return out.data;
    },
    async attentionWithLse(a) {
      const { out, lse } = await engine.attention({ ...a, returnLse: true });
      sameShape(out.shape, a.q.shape, 'attention out');
      sameShape(lse.shape, a.q.shape.slice(0, 3), 'attention lse');
      return { out: out.data, lse: lse.data };
    },
    async attentionBackward(a) {
      const g = await engine.attentionBackward(a);
      sameShape(g.dq.shape, a.q.shape, 'attentionBackward dq');
      sameShape(g.dk.shape, a.k.shape, 'attentionBackward dk');
      sameShape(g.dv.shape, a.k.shape, 'attentionBackward dv');
      return { dq: g.dq.data, dk: g.dk.data, dv: g.dv.data };
    },
    async matmul(a) {
      const out = await engine.matmul(a);
      if (a.mode === 'sdd') sameShape(out.shape, [a.a.shape[0], layoutNonZeros(a.layout).length, a.layout.block, a.layout.block], 'sdd out');
      else if (out.shape.length !== 4) throw new Error(`${a.mode} out: shape [${out.shape}], expected 4 dimensions`);
      return out.data;
    },
    async softmax(a) {
      const out = await engine.softmax(a);
      sameShape(out.shape, a.x.shape, 'softmax out');
      return out.data;
    },
    async softmaxBackward(a) {
      const out = await engine.softmaxBackward(a);
      sameShape(out.shape, a.y.shape, 'softmaxBackward dx');
      return out.data;
    },
  };
}

/** A Backend called directly with the problems the engine would build (src/problems.ts). */
export function backendTarget(backend: Backend, linearEngine: Engine): OpTarget {
  return {
    backend: backend.name,
    linearEngine,
    attention: async (a) => (await backend.attention(attentionProblem(a))) as Float32Array,
    attentionWithLse: async (a) => {
      const { out, lse } = await backend.attentionWithLse(attentionProblem({ ...a, returnLse: true }));
      return { out: out as Float32Array, lse };
    },
    attentionBackward: async (a) => (await backend.attentionBackward(attentionBackwardProblem(a))) as Gradients,
    matmul: (a) => backend.matmul(matmulProblem(a)),
    softmax: (a) => backend.softmax(softmaxProblem(a)),
    softmaxBackward: (a) => backend.softmaxBackward(softmaxBackwardProblem(a)),
  };
}

/** One output of a case beside its reference. */
export interface Part {
  label: string;
  got: ArrayLike<number>;
  want: ArrayLike<number>;
  exactZeros: boolean;
}

/** Runs `op` of case `c` on `t` and computes the references; `place` says which exclusions hold. */
export async function runCase(t: OpTarget, op: Op, c: OpCase, place: Place): Promise<Part[]> {
  const z = demandsExactZeros(place, op, c);
  const part = (label: string, got: ArrayLike<number>, want: ArrayLike<number>): Part => ({ label, got, want, exactZeros: z });
  switch (c.kind) {
    case 'attention': {
      const args = attentionInputs(c);
      if (op === 'attention') {
        const parts = [part('out', await t.attention(args), referenceAttention(args))];
        if (c.lse) {
          // returnLse: the same out, bitwise, and each row's log-sum-exp
          const { out, lse } = await t.attentionWithLse(args);
          const i = out.findIndex((x, j) => !Object.is(x, parts[0].got[j]));
          if (i >= 0) throw new Error(`attention with returnLse: out[${i}] is ${out[i]}, without it ${parts[0].got[i]}`);
          parts.push(part('lse', lse, referenceLse(args)));
        }
        return parts;
      }
      const g = await t.attentionBackward(args);
      const want = referenceAttentionBackward(args);
      return (['dq', 'dk', 'dv'] as const).map((k) => part(k, g[k], want[k]));
    }
    case 'matmul': {
      const args = matmulInputs(c);
      return [part('c', await t.matmul(args), referenceMatmul(args as RefMatmulArgs))];
    }
    case 'softmax': {
      const args = softmaxInputs(c);
      return [part('y', await t.softmax(args), referenceSoftmax(args))];
    }
    case 'softmaxBackward': {
      const args = softmaxBackwardInputs(c);
      return [part('dx', await t.softmaxBackward(args), referenceSoftmaxBackward(args))];
    }
    case 'linear': {
      const { options, x, dy } = linearInputs(c);
      const layer = new BlockSparseLinear({ ...options, engine: t.linearEngine });
      const rows = x.data.length / c.inF;
      const W = denseFromSparse(layer.weight);
      const y = await layer.forward(x);
      sameShape(y.shape, [...c.lead, c.out], 'linear y');
      const g = await layer.backward(x, dy);
      sameShape(g.dx.shape, [...c.lead, c.inF], 'linear dx');
      sameShape(g.dWeight.shape, [1, layer.nnz, c.block, c.block], 'linear dWeight');
      if (g.dWeight.layout !== layer.layout) throw new Error('linear: dWeight is not over the layer layout');
      if (c.bias !== (g.dBias !== null)) throw new Error(`linear: dBias is ${g.dBias === null ? 'null' : 'given'} with bias ${c.bias}`);
      const ref = denseLinearBackward64(x.data, W, dy.data, rows, c.inF, c.out);
      return [
        part('y', y.data, denseLinear64(x.data, W, layer.bias?.data ?? null, rows, c.inF, c.out)),
        part('dx', g.dx.data, ref.dx),
        part('dWeight', g.dWeight.data, sparseFromDense64(ref.dW, 1, layer.layout)),
        ...(g.dBias ? [part('dBias', g.dBias.data, ref.db)] : []),
      ];
    }
  }
}

export function toleranceOf(t: OpTarget, c: OpCase): Tolerance {
  return TOLERANCES[c.tolerance ?? 'api'][t.backend];
}

/** The first element that should be +0 (its reference is exactly 0) and is not, or -1. */
function firstNonZero(p: Part): number {
  if (!p.exactZeros) return -1;
  for (let i = 0; i < p.want.length; i++) if (p.want[i] === 0 && !Object.is(p.got[i], 0)) return i;
  return -1;
}

/** Throws, naming the part and the first offending index, unless every part is within `tol`. */
export function assertParts(parts: Part[], tol: Tolerance, label: string): void {
  for (const p of parts) {
    assertClose(p.got, p.want, { ...tol, label: `${label} ${p.label}` });
    const i = firstNonZero(p);
    if (i >= 0) throw new Error(`${label} ${p.label}: ${p.got[i]} at ${i} where the reference is exactly 0`);
  }
}

/** The same verdict as assertParts, as a record (bench/gpu/check.ts). */
export function compareParts(parts: Part[], tol: Tolerance): { ok: boolean; maxAbsError: number; violations: number } {
  let ok = true;
  let maxAbsError = 0;
  let violations = 0;
  for (const p of parts) {
    const r = compareClose(p.got, p.want, tol);
    ok &&= r.ok && firstNonZero(p) < 0;
    maxAbsError = Math.max(maxAbsError, r.maxAbsError);
    violations += r.violations;
  }
  return { ok, maxAbsError, violations };
}
