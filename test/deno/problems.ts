// Builds the normalised problems of src/backend.ts from public-style arguments, as the engine does
// after validation: defaults filled in, 'mul' masks turned into 0 / −∞, the layout compiled.
import type {
  AttentionBackwardProblem,
  AttentionProblem,
  MatmulProblem,
  SoftmaxBackwardProblem,
  SoftmaxProblem,
} from '../../src/backend.js';
import { compileLayout } from '../../src/layouts/compile.js';
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  MaskMode,
  MatmulArgs,
  SoftmaxArgs,
  SoftmaxBackwardArgs,
  Tensor,
} from '../../src/types.js';

export function additive(t: Tensor | undefined, mode: MaskMode): Float32Array | null {
  if (!t) return null;
  if (mode === 'add') return t.data;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = t.data[i] === 0 ? -Infinity : 0;
  return out;
}

export function attentionProblem(a: AttentionArgs): AttentionProblem {
  const [B, H, N, D] = a.q.shape;
  return {
    B,
    H,
    N,
    D,
    q: a.q.data,
    k: a.k.data,
    v: a.v.data,
    layout: compileLayout(a.layout),
    scale: a.scale ?? 1 / Math.sqrt(D),
    causal: a.causal ?? false,
    rpe: a.rpe?.data ?? null,
    keyPadding: additive(a.keyPaddingMask, a.keyPaddingMaskMode ?? 'add'),
    attnMask: additive(a.attnMask, a.attnMaskMode ?? 'mul'),
  };
}

export function attentionBackwardProblem(a: AttentionBackwardArgs): AttentionBackwardProblem {
  return { ...attentionProblem(a), dout: a.dout.data };
}

export function matmulProblem(a: MatmulArgs): MatmulProblem {
  const transA = a.transA ?? false;
  const transB = a.transB ?? false;
  if (a.mode === 'sdd') {
    const [B, H, ar, ac] = a.a.shape;
    const [, , br, bc] = a.b.shape;
    return {
      mode: 'sdd', B, H,
      M: transA ? ac : ar, K: transA ? ar : ac, N: transB ? br : bc,
      a: a.a.data, b: a.b.data, transA, transB, layout: compileLayout(a.layout),
    };
  }
  if (a.mode === 'dsd') {
    const [, R, C] = a.a.layout.shape;
    const blk = a.a.layout.block;
    const [B, H, br, bc] = a.b.shape;
    return {
      mode: 'dsd', B, H,
      M: (transA ? C : R) * blk, K: (transA ? R : C) * blk, N: transB ? br : bc,
      a: a.a.data, b: a.b.data, transA, transB, layout: compileLayout(a.a.layout),
    };
  }
  const [B, H, ar, ac] = a.a.shape;
  const [, R, C] = a.b.layout.shape;
  const blk = a.b.layout.block;
  return {
    mode: 'dds', B, H,
    M: transA ? ac : ar, K: transA ? ar : ac, N: (transB ? R : C) * blk,
    a: a.a.data, b: a.b.data, transA, transB, layout: compileLayout(a.b.layout),
  };
}

export function softmaxProblem(a: SoftmaxArgs): SoftmaxProblem {
  const [H, R] = a.x.layout.shape;
  return {
    B: a.x.shape[0],
    H,
    N: R * a.x.layout.block,
    x: a.x.data,
    layout: compileLayout(a.x.layout),
    scale: a.scale ?? 1,
    causal: a.causal ?? false,
    rpe: a.rpe?.data ?? null,
    keyPadding: additive(a.keyPaddingMask, a.keyPaddingMaskMode ?? 'add'),
    attnMask: additive(a.attnMask, a.attnMaskMode ?? 'mul'),
  };
}

export function softmaxBackwardProblem(a: SoftmaxBackwardArgs): SoftmaxBackwardProblem {
  const [H, R] = a.y.layout.shape;
  return {
    B: a.y.shape[0],
    H,
    N: R * a.y.layout.block,
    y: a.y.data,
    dy: a.dy.data,
    layout: compileLayout(a.y.layout),
    scale: a.scale ?? 1,
  };
}
