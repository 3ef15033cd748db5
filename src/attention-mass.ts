// engine.attentionMass: the share of each query row's dense softmax mass that a layout keeps,
// from two forward passes with returnLse, one over the layout and one over a dense layout of the
// same allowed keys: mass = e^(lse_layout − lse_dense). Both stream over their keys (no N × N
// matrix); v is k itself, as only the log-sum-exp is read.
import type { Engine } from './engine.js';
import { errors } from './errors.js';
import { attentionProblem, blocksCovering } from './problems.js';
import type { AttentionArgs, AttentionMassArgs, Layout, Tensor } from './types.js';

/** `afterPass` runs right after each of the two passes (the engine reads their timings there). */
export async function attentionMass(engine: Engine, args: AttentionMassArgs, afterPass: () => void = () => {}): Promise<Tensor> {
  if (args === null || typeof args !== 'object') throw errors.notObject('arguments', args);
  const { q, k, layout, causal, qOffset, keyLengths, scale } = args;
  const call: AttentionArgs = { q, k, v: k, layout, causal, qOffset, keyLengths, scale };
  const p = attentionProblem(call, engine); // every check attention makes, before either pass
  const block = p.layout.block;
  const { R, C } = blocksCovering(block, p.N, p.Nk, p.qOffset);
  const dense: Layout = { block, shape: [1, R, C], data: new Uint8Array(R * C).fill(1) };
  const kept = await engine.attention({ ...call, returnLse: true });
  afterPass();
  const all = await engine.attention({ ...call, layout: dense, returnLse: true });
  afterPass();
  const mass = new Float32Array(p.B * p.H * p.N);
  for (let i = 0; i < mass.length; i++) {
    const l = kept.lse.data[i];
    // rounding can put the share a hair above 1: it is a share
    mass[i] = l === -Infinity ? 0 : Math.min(1, Math.exp(l - all.lse.data[i]));
  }
  return { data: mass, shape: [p.B, p.H, p.N] };
}

