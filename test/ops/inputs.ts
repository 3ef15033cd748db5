// The inputs of a case of test/ops/cases.ts, drawn from its seed: the same bits on every backend.
import type { BlockSparseTensor, Layout, MatmulArgs, SoftmaxArgs, SoftmaxBackwardArgs, Tensor } from '../../src/types.js';
import {
  mulberry32, randomAttentionArgs, randomInt, randomKeyPaddingMask, randomLayout, randomScoreTerms, randomTensor,
  type HostAttentionBackwardArgs, type Rng,
} from '../helpers/random.js';
import { referenceSoftmax } from '../reference/softmax.js';
import { layoutNonZeros } from '../reference/sparse.js';
import type { AttentionCase, LayoutKind, LinearCase, MatmulCase, SoftmaxBackwardCase, SoftmaxCase } from './cases.js';

export function blockSparse(rng: Rng, B: number, layout: Layout, range = 1): BlockSparseTensor {
  const nnz = layoutNonZeros(layout).length;
  const shape: [number, number, number, number] = [B, nnz, layout.block, layout.block];
  return { layout, data: randomTensor(shape, rng, { min: -range, max: range }).data, shape };
}

/** Attention inputs, with dout for the backward (drawn after the forward's, so both share q, k, v). */
export function attentionInputs(c: AttentionCase): HostAttentionBackwardArgs {
  if (c.Nq !== undefined || c.Nk !== undefined || c.batchedLayout || c.qOffset !== undefined) return realShapeInputs(c);
  const rng = mulberry32(c.seed);
  const args = randomAttentionArgs(rng, { ...c.opts, kvHeads: c.Hkv, shape: { B: c.B, H: c.H, N: c.R * c.block, D: c.D, block: c.block, R: c.R } });
  if (c.layout) args.layout = { block: c.block, shape: [c.H, c.R, c.R], data: Uint8Array.from(c.layout) };
  if (c.layoutHeads !== undefined || c.layoutExtra) {
    // a layout of Hl heads over R + extra block rows and columns, of which the call reads the top-left R × R
    const side = c.R + (c.layoutExtra ?? 0);
    const o = c.opts ?? {};
    args.layout = randomLayout(c.layoutHeads ?? c.H, side, side, o.density ?? 0.6, rng, {
      block: c.block, ensureRowNonEmpty: !o.allowEmptyRows, ensureDiagonal: !!o.causal && !o.allowEmptyRows,
    });
  }
  if (c.keyLengths) {
    args.keyLengths = Int32Array.from(c.keyLengths);
    args.qOffset = 0;
  }
  const scaleAll = (t: Tensor | undefined, f: (x: number, i: number) => number) => {
    if (t) for (let i = 0; i < t.data.length; i++) t.data[i] = f(t.data[i], i);
  };
  switch (c.edit) {
    case 'scores x10':
      scaleAll(args.q, (x) => x * 10);
      scaleAll(args.k, (x) => x * 10);
      break;
    case 'kpm -inf to -1e9':
      scaleAll(args.keyPaddingMask, (x) => (x === -Infinity ? -1e9 : x));
      break;
    case 'rpe -3e38':
      scaleAll(args.rpe, (x, i) => (x === -Infinity || i % 3 === 0 ? -3e38 : x));
      break;
    case 'kpm -3e38':
      scaleAll(args.keyPaddingMask, (x) => (x === -Infinity ? -3e38 : x));
      break;
    case 'rpe +3e38':
      scaleAll(args.rpe, (x, i) => (i % 5 === 0 ? 3e38 : x));
      break;
  }
  return { ...args, dout: randomTensor(args.q.shape, rng) };
}

/** Inputs beyond self-attention (AttentionCase's Nq, Nk, qOffset, batchedLayout). */
function realShapeInputs(c: AttentionCase): HostAttentionBackwardArgs {
  const rng = mulberry32(c.seed);
  const o = c.opts ?? {};
  const { B, H, D, block } = c;
  const Nq = c.Nq ?? c.R * block;
  const Nk = c.Nk ?? Nq;
  const Hkv = c.Hkv ?? H;
  const keyLengths = c.keyLengths ? Int32Array.from(c.keyLengths) : undefined;
  const offsets = Array.from({ length: B }, (_, b) =>
    c.qOffset === undefined ? (keyLengths ? keyLengths[b] : Nk) - Nq : typeof c.qOffset === 'number' ? c.qOffset : c.qOffset[b]);
  const extra = c.layoutExtra ?? 0;
  const R = Math.ceil((Math.max(...offsets) + Nq) / block) + extra;
  const C = Math.ceil(Nk / block) + extra;
  const Hl = c.layoutHeads ?? H;
  const args: HostAttentionBackwardArgs = {
    q: randomTensor([B, H, Nq, D], rng),
    k: randomTensor([B, Hkv, Nk, D], rng),
    v: randomTensor([B, Hkv, Nk, D], rng),
    layout: randomLayout(Hl, R, C, o.density ?? 0.6, rng, { block, ensureRowNonEmpty: !o.allowEmptyRows }),
    dout: randomTensor([B, H, Nq, D], rng),
  };
  if (c.batchedLayout) {
    const layouts = Array.from({ length: B }, () => randomLayout(Hl, R, C, o.density ?? 0.6, rng, { block, ensureRowNonEmpty: !o.allowEmptyRows }));
    const data = new Uint8Array(B * Hl * R * C);
    layouts.forEach((l, b) => data.set(l.data, b * Hl * R * C));
    (args as { layout: unknown }).layout = { block, shape: [B, Hl, R, C], data };
  }
  if (o.scale !== undefined) args.scale = o.scale;
  if (o.causal) args.causal = true;
  Object.assign(args, randomScoreTerms(rng, B, H, Nq, Nk, o));
  if (keyLengths) args.keyLengths = keyLengths;
  if (c.qOffset !== undefined) args.qOffset = typeof c.qOffset === 'number' ? c.qOffset : Int32Array.from(c.qOffset);
  return args;
}

function matmulLayout(rng: Rng, kind: LayoutKind, H: number, R: number, C: number, block: number): Layout {
  const l = typeof kind === 'object'
    ? randomLayout(H, R, C, kind.density, rng, { block, ensureRowNonEmpty: kind.rowNonEmpty ?? false })
    : kind === 'single'
      ? randomLayout(H, R, C, 0, rng, { block })
      : randomLayout(H, R, C, { random: 0.5, sparse: 0.2, dense: 1, empty: 0 }[kind], rng, { block });
  if (kind === 'single') l.data[randomInt(rng, 0, l.data.length - 1)] = 1;
  // only 'empty' keeps nothing (the engine rejects block-sparse operands without blocks)
  if (kind !== 'empty' && !l.data.some((x) => x !== 0)) l.data[randomInt(rng, 0, l.data.length - 1)] = 1;
  return l;
}

/** Stored shape of a dense operand whose op() is [rows × cols]. */
function dense(rng: Rng, B: number, H: number, rows: number, cols: number, trans: boolean): Tensor {
  return randomTensor(trans ? [B, H, cols, rows] : [B, H, rows, cols], rng);
}

export function matmulInputs(c: MatmulCase): MatmulArgs {
  const rng = mulberry32(c.seed);
  const { mode, transA, transB, B, H, R, C, block, inner } = c;
  const layout = matmulLayout(rng, c.layout, H, R, C, block);
  if (mode === 'sdd') return { mode, layout, transA, transB, a: dense(rng, B, H, R * block, inner, transA), b: dense(rng, B, H, inner, C * block, transB) };
  if (mode === 'dsd') return { mode, transA, transB, a: blockSparse(rng, B, layout), b: dense(rng, B, H, (transA ? R : C) * block, inner, transB) };
  return { mode, transA, transB, a: dense(rng, B, H, inner, (transB ? C : R) * block, transA), b: blockSparse(rng, B, layout) };
}

function softmaxLayout(rng: Rng, c: { H: number; R: number; block: number; density?: number; rowsNonEmpty?: boolean; ensureDiagonal?: boolean }): Layout {
  const layout = randomLayout(c.H, c.R, c.R, c.density ?? 0.5, rng, { block: c.block, ensureRowNonEmpty: c.rowsNonEmpty ?? false, ensureDiagonal: c.ensureDiagonal ?? false });
  if (!layout.data.some((x) => x !== 0)) layout.data[0] = 1; // the engine rejects nothing kept
  return layout;
}

export function softmaxInputs(c: SoftmaxCase): SoftmaxArgs {
  const rng = mulberry32(c.seed);
  const N = c.R * c.block;
  const layout = softmaxLayout(rng, c);
  const args: SoftmaxArgs = { x: blockSparse(rng, c.B, layout, c.range ?? 1) };
  if (c.scale !== undefined) args.scale = c.scale;
  if (c.causal) args.causal = true;
  Object.assign(args, randomScoreTerms(rng, c.B, c.H, N, N, {
    rpe: c.rpe, keyPaddingMaskMode: c.kpm, attnMaskMode: c.am, fullyMaskedBatches: c.fullyMaskedBatches, fullyMaskedRows: c.fullyMaskedRows,
  }));
  if (c.allKeysMasked) {
    args.keyPaddingMask = { data: new Float32Array(c.B * N), shape: [c.B, N] };
    args.keyPaddingMaskMode = 'mul';
  }
  return args;
}

export function softmaxBackwardInputs(c: SoftmaxBackwardCase): SoftmaxBackwardArgs {
  const rng = mulberry32(c.seed);
  const layout = softmaxLayout(rng, c);
  let y: BlockSparseTensor;
  if (c.y === 'softmax') {
    const N = c.R * c.block;
    const x = blockSparse(rng, c.B, layout, 3);
    const fwd: SoftmaxArgs = { x, scale: c.scale, causal: c.causal };
    if (c.kpm) {
      fwd.keyPaddingMask = randomKeyPaddingMask(c.B, N, rng, { mode: c.kpm });
      fwd.keyPaddingMaskMode = c.kpm;
    }
    y = { ...x, data: Float32Array.from(referenceSoftmax(fwd)) };
  } else {
    y = blockSparse(rng, c.B, layout);
  }
  return { y, dy: blockSparse(rng, c.B, layout), scale: c.scale };
}

export interface LinearInputs {
  options: { inFeatures: number; outFeatures: number; density: number; block: number; bias: boolean; seed: number };
  x: Tensor;
  dy: Tensor;
}

export function linearInputs(c: LinearCase): LinearInputs {
  const rng = mulberry32(c.seed);
  return {
    options: { inFeatures: c.inF, outFeatures: c.out, density: c.density, block: c.block, bias: c.bias, seed: c.layerSeed },
    x: randomTensor([...c.lead, c.inF], rng),
    dy: randomTensor([...c.lead, c.out], rng),
  };
}
