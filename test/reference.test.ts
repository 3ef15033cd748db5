// Tests of the float64 references themselves (test/reference/**) and of the test helpers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Layout } from '../src/types.js';
import {
  CPU_TOL,
  GPU_TOL,
  assertClose,
  compareClose,
  denseFromSparse,
  layoutNonZeros,
  mulberry32,
  randomAttentionArgs,
  randomAttnMask,
  randomKeyPaddingMask,
  randomLayout,
  randomTensor,
  referenceAttention,
  referenceAttentionBackward,
  referenceAttentionProbabilities,
  referenceLse,
  referenceMatmul,
  referenceSoftmax,
  referenceSoftmaxBackward,
  sparseFromDense64,
  type RandomAttentionOptions,
  type RefAttentionArgs,
  type RefBlockSparse,
  type Rng,
  type HostAttentionArgs,
} from './reference/index.js';

/** Tight tolerance for comparing two float64 computations of the same quantity. */
const F64_TOL = { atol: 1e-12, rtol: 1e-10 };
/** Central differences with step FD_STEP: truncation O(h²) ~ 1e-10, round-off ~ 1e-16·|L|/h ~ 1e-10. */
const FD_STEP = 1e-5;
const FD_TOL = { atol: 1e-7, rtol: 1e-6 };
const FD_SAMPLES = 30;

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function sampleIndices(n: number, count: number, rng: Rng): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const set = new Set<number>();
  while (set.size < count) set.add(Math.floor(rng() * n));
  return [...set];
}

/** Central difference of loss() in data[idx] (data is modified and restored). */
function centralDifference(data: Float64Array, idx: number, loss: () => number): number {
  const x = data[idx];
  data[idx] = x + FD_STEP;
  const plus = loss();
  data[idx] = x - FD_STEP;
  const minus = loss();
  data[idx] = x;
  return (plus - minus) / (2 * FD_STEP);
}

function hasNonFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return true;
  return false;
}

// ---------------------------------------------------------------- (a) attention backward vs finite differences

const FD_CONFIGS: [string, RandomAttentionOptions][] = [
  ['plain, block 1', { shape: { B: 1, H: 2, N: 5, D: 3, block: 1, R: 5 } }],
  ['causal, block 2', { shape: { B: 2, H: 1, N: 6, D: 4, block: 2, R: 3 }, causal: true }],
  ['rpe + kpm add, block 3', { shape: { B: 1, H: 2, N: 6, D: 3, block: 3, R: 2 }, rpe: true, keyPaddingMaskMode: 'add' }],
  ['kpm mul + attnMask add, block 4', { shape: { B: 2, H: 1, N: 8, D: 2, block: 4, R: 2 }, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }],
  ['attnMask mul + causal + rpe, scale 0.7', { shape: { B: 1, H: 2, N: 6, D: 5, block: 2, R: 3 }, attnMaskMode: 'mul', causal: true, rpe: true, scale: 0.7 }],
  ['fully masked rows (attnMask row, kpm batch, empty layout rows)', {
    shape: { B: 2, H: 2, N: 6, D: 3, block: 1, R: 6 }, density: 0.4, allowEmptyRows: true,
    attnMaskMode: 'mul', fullyMaskedRows: [2], keyPaddingMaskMode: 'mul', fullyMaskedBatches: [1],
  }],
];

function f64Args(args: HostAttentionArgs): RefAttentionArgs & { q: { data: Float64Array }; k: { data: Float64Array }; v: { data: Float64Array } } {
  return {
    ...args,
    q: { data: Float64Array.from(args.q.data), shape: args.q.shape },
    k: { data: Float64Array.from(args.k.data), shape: args.k.shape },
    v: { data: Float64Array.from(args.v.data), shape: args.v.shape },
  };
}

FD_CONFIGS.forEach(([name, opts], n) => {
  test(`(a) attention backward = finite differences: ${name}`, () => {
    const rng = mulberry32(100 + n);
    const args = f64Args(randomAttentionArgs(rng, opts));
    const G = randomTensor(args.q.shape as number[], rng);
    const grads = referenceAttentionBackward({ ...args, dout: G });
    const loss = () => dot(referenceAttention(args), G.data);
    for (const [which, grad] of [['q', grads.dq], ['k', grads.dk], ['v', grads.dv]] as const) {
      const data = args[which].data;
      const idx = sampleIndices(data.length, FD_SAMPLES, rng);
      const fd = idx.map((i) => centralDifference(data, i, loss));
      assertClose(idx.map((i) => grad[i]), fd, { ...FD_TOL, label: `${name}: d${which}` });
    }
  });
});

// ---------------------------------------------------------------- (b) softmax backward vs finite differences

function randomSparse(B: number, layout: Layout, rng: Rng, scaleBy = 1): RefBlockSparse & { data: Float64Array } {
  const nnz = layoutNonZeros(layout).length;
  const data = new Float64Array(B * nnz * layout.block * layout.block);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround((rng() * 2 - 1) * scaleBy);
  return { layout, data, shape: [B, nnz, layout.block, layout.block] };
}

test('(b) softmax backward = finite differences (default scale, and scale + all masks + a masked row)', () => {
  const rng = mulberry32(7);
  const cases = [
    { B: 2, H: 2, R: 3, block: 2, extra: {} },
    { B: 2, H: 1, R: 4, block: 3, extra: { scale: 0.6, causal: true } },
  ];
  for (const [n, c] of cases.entries()) {
    const N = c.R * c.block;
    const layout = randomLayout(c.H, c.R, c.R, 0.6, rng, { block: c.block, ensureRowNonEmpty: true, ensureDiagonal: true });
    const x = randomSparse(c.B, layout, rng, 2);
    const masks = n === 0 ? {} : {
      rpe: randomTensor([c.B, c.H, N, N], rng),
      keyPaddingMask: randomKeyPaddingMask(c.B, N, rng, { mode: 'add' }),
      attnMask: randomAttnMask(N, N, rng, { mode: 'mul', fullyMaskedRows: [1] }),
    };
    const args = { x, ...c.extra, ...masks };
    const G = randomSparse(c.B, layout, rng);
    const y = { layout, data: referenceSoftmax(args), shape: x.shape };
    const dx = referenceSoftmaxBackward({ y, dy: G, scale: (c.extra as { scale?: number }).scale });
    const loss = () => dot(referenceSoftmax(args), G.data);
    const idx = sampleIndices(x.data.length, 40, rng);
    const fd = idx.map((i) => centralDifference(x.data, i, loss));
    assertClose(idx.map((i) => dx[i]), fd, { ...FD_TOL, label: `softmax case ${n}: dx` });
  }
});

// ---------------------------------------------------------------- (c) attention = dsd(softmax(sdd(q, kᵀ)), v)

const COMPOSE_CONFIGS: RandomAttentionOptions[] = [
  {},
  { causal: true, rpe: true },
  { keyPaddingMaskMode: 'add', attnMaskMode: 'mul', scale: 0.3 },
  { keyPaddingMaskMode: 'mul', attnMaskMode: 'add', causal: true, allowEmptyRows: true, density: 0.3 },
  { rpe: true, attnMaskMode: 'mul', fullyMaskedRows: [0], keyPaddingMaskMode: 'mul', fullyMaskedBatches: [0] },
];

test('(c) attention (and its backward) equal the composition of sdd, softmax and dsd references', () => {
  const rng = mulberry32(11);
  for (const [n, opts] of COMPOSE_CONFIGS.entries()) {
    for (let rep = 0; rep < 4; rep++) {
      const args = randomAttentionArgs(rng, opts);
      const { layout } = args;
      const [B, , , D] = args.q.shape;
      const shape = [B, layoutNonZeros(layout).length, layout.block, layout.block];
      const sparse = (data: Float64Array): RefBlockSparse => ({ layout, data, shape });
      const scale = args.scale ?? 1 / Math.sqrt(D);
      const s = referenceMatmul({ mode: 'sdd', a: args.q, b: args.k, layout, transB: true });
      const y = referenceSoftmax({ ...args, x: sparse(s), scale });
      const out = referenceMatmul({ mode: 'dsd', a: sparse(y), b: args.v });
      assertClose(referenceAttention(args), out, { ...F64_TOL, label: `config ${n}: out` });
      // The backward through the same ops.
      const dout = randomTensor(args.q.shape, rng);
      const dv = referenceMatmul({ mode: 'dsd', a: sparse(y), b: dout, transA: true });
      const dp = referenceMatmul({ mode: 'sdd', a: dout, b: args.v, layout, transB: true });
      const ds = referenceSoftmaxBackward({ y: sparse(y), dy: sparse(dp), scale });
      const dq = referenceMatmul({ mode: 'dsd', a: sparse(ds), b: args.k });
      const dk = referenceMatmul({ mode: 'dsd', a: sparse(ds), b: args.q, transA: true });
      const g = referenceAttentionBackward({ ...args, dout });
      assertClose(g.dq, dq, { ...F64_TOL, label: `config ${n}: dq` });
      assertClose(g.dk, dk, { ...F64_TOL, label: `config ${n}: dk` });
      assertClose(g.dv, dv, { ...F64_TOL, label: `config ${n}: dv` });
    }
  }
});

// ---------------------------------------------------------------- (d) dense layout = textbook attention

/** softmax(q·kᵀ/√d + bias) · v for one head, with a row of nothing but −∞ giving zeros. */
function textbookAttention(q: number[][], k: number[][], v: number[][], bias = (_i: number, _j: number) => 0, scale = 1 / Math.sqrt(q[0].length)): number[][] {
  return q.map((qi, i) => {
    const logits = k.map((kj, j) => kj.reduce((acc, x, t) => acc + x * qi[t], 0) * scale + bias(i, j));
    const top = Math.max(...logits);
    const weights = logits.map((x) => (top === -Infinity ? 0 : Math.exp(x - top)));
    const total = weights.reduce((a, b) => a + b, 0) || 1;
    return v[0].map((_, t) => weights.reduce((acc, w, j) => acc + (w / total) * v[j][t], 0));
  });
}

const headRows = (t: ArrayLike<number>, bh: number, N: number, D: number) =>
  Array.from({ length: N }, (_, i) => Array.from({ length: D }, (_, d) => t[(bh * N + i) * D + d]));

test('(d) a dense layout without masks equals textbook dense attention', () => {
  const rng = mulberry32(3);
  for (const [B, H, N, D, block] of [[1, 1, 4, 3, 1], [2, 3, 6, 4, 2], [1, 2, 12, 5, 4]]) {
    const R = N / block;
    const layout: Layout = { block, shape: [H, R, R], data: new Uint8Array(H * R * R).fill(1) };
    const [q, k, v] = [0, 1, 2].map(() => randomTensor([B, H, N, D], rng));
    const got = referenceAttention({ q, k, v, layout });
    const want: number[] = [];
    for (let bh = 0; bh < B * H; bh++) want.push(...textbookAttention(headRows(q.data, bh, N, D), headRows(k.data, bh, N, D), headRows(v.data, bh, N, D)).flat());
    assertClose(got, want, { ...F64_TOL, label: `dense B=${B} H=${H} N=${N}` });
  }
});

test('(d) sparse layout, causal, rpe and both mask modes equal textbook attention with an explicit bias', () => {
  const rng = mulberry32(4);
  for (const [kpmMode, amMode] of [['add', 'mul'], ['mul', 'add'], ['add', 'add'], ['mul', 'mul']] as const) {
    const args = randomAttentionArgs(rng, {
      shape: { B: 2, H: 2, N: 8, D: 3, block: 2, R: 4 }, density: 0.5, allowEmptyRows: true,
      causal: true, rpe: true, keyPaddingMaskMode: kpmMode, attnMaskMode: amMode, scale: 0.8,
    });
    const [B, H, N, D] = args.q.shape;
    const { layout, rpe, keyPaddingMask: kpm, attnMask: am } = args;
    const term = (x: number, mode: 'add' | 'mul') => (mode === 'add' ? x : x === 0 ? -Infinity : 0);
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const bh = b * H + h;
        const bias = (i: number, j: number) => {
          const inLayout = layout.data[h * 16 + Math.floor(i / 2) * 4 + Math.floor(j / 2)] === 1;
          if (!inLayout || j > i) return -Infinity;
          return rpe!.data[bh * 64 + i * 8 + j] + term(kpm!.data[b * 8 + j], kpmMode) + term(am!.data[i * 8 + j], amMode);
        };
        want.push(...textbookAttention(headRows(args.q.data, bh, N, D), headRows(args.k.data, bh, N, D), headRows(args.v.data, bh, N, D), bias, 0.8).flat());
      }
    }
    assertClose(referenceAttention(args), want, { ...F64_TOL, label: `kpm ${kpmMode}, attnMask ${amMode}` });
  }
});

// ---------------------------------------------------------------- (e) fully masked rows

test('(e) fully masked rows give zeros, never NaN, forward and backward', () => {
  const rng = mulberry32(5);
  const B = 2, H = 2, N = 8, D = 3, block = 2, R = 4;
  // Head 0: block row 1 empty. Head 1: block row 0 keeps only block column 1, so causal empties rows 0, 1.
  const data = new Uint8Array(H * R * R).fill(1);
  data.fill(0, 1 * R, 2 * R);
  data.fill(0, R * R, R * R + R);
  data[R * R + 1] = 1;
  const layout: Layout = { block, shape: [H, R, R], data };
  const args: HostAttentionArgs = {
    q: randomTensor([B, H, N, D], rng), k: randomTensor([B, H, N, D], rng), v: randomTensor([B, H, N, D], rng), layout,
    causal: true,
    attnMask: randomAttnMask(N, N, rng, { mode: 'mul', maskedFraction: 0, fullyMaskedRows: [5] }),
    keyPaddingMask: randomKeyPaddingMask(B, N, rng, { mode: 'add', maskedFraction: 0, fullyMaskedBatches: [1] }),
  };
  const masked = (b: number, h: number, i: number) =>
    b === 1 || i === 5 || (h === 0 && (i === 2 || i === 3)) || (h === 1 && i < 2);
  const out = referenceAttention(args);
  const P = referenceAttentionProbabilities(args);
  const g = referenceAttentionBackward({ ...args, dout: randomTensor([B, H, N, D], rng) });
  for (const a of [out, P, g.dq, g.dk, g.dv]) assert.not.ok(hasNonFinite(a), 'no NaN or Inf');
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const o = ((b * H + h) * N + i) * D;
        const rowSum = P.subarray(((b * H + h) * N + i) * N, ((b * H + h) * N + i + 1) * N).reduce((x, y) => x + y, 0);
        if (masked(b, h, i)) {
          assert.ok(out.subarray(o, o + D).every((x) => x === 0), `out row b=${b} h=${h} i=${i} is zero`);
          assert.ok(g.dq.subarray(o, o + D).every((x) => x === 0), `dq row b=${b} h=${h} i=${i} is zero`);
          assert.is(rowSum, 0);
        } else {
          assert.ok(Math.abs(rowSum - 1) < 1e-12, `P row b=${b} h=${h} i=${i} sums to 1`);
        }
      }
    }
  }
  // Batch 1 is masked entirely: every gradient of it is zero.
  const half = H * N * D;
  for (const a of [g.dq, g.dk, g.dv]) assert.ok(a.subarray(half).every((x) => x === 0), 'batch 1 gradients are zero');
  // The softmax op alike.
  const x = { layout, data: Float64Array.from({ length: B * layoutNonZeros(layout).length * block * block }, () => rng()), shape: [B, layoutNonZeros(layout).length, block, block] };
  const y = referenceSoftmax({ x, causal: true, attnMask: args.attnMask, keyPaddingMask: args.keyPaddingMask });
  assert.not.ok(hasNonFinite(y));
  const dense = denseFromSparse({ layout, data: y, shape: x.shape });
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const s = dense.subarray(((b * H + h) * N + i) * N, ((b * H + h) * N + i + 1) * N).reduce((p, q) => p + q, 0);
        assert.ok(masked(b, h, i) ? s === 0 : Math.abs(s - 1) < 1e-12, `softmax row b=${b} h=${h} i=${i}`);
      }
    }
  }
  const dx = referenceSoftmaxBackward({ y: { layout, data: y, shape: x.shape }, dy: x });
  assert.not.ok(hasNonFinite(dx));
});

// ---------------------------------------------------------------- (f) matmul modes vs naive dense matmul

/** [B, H, r, c] → [B, H, c, r]. */
function transpose4(a: ArrayLike<number>, BH: number, r: number, c: number): Float64Array {
  const out = new Float64Array(BH * r * c);
  for (let bh = 0; bh < BH; bh++) {
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[(bh * c + j) * r + i] = a[(bh * r + i) * c + j];
  }
  return out;
}

function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, BH: number, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(BH * M * N);
  for (let bh = 0; bh < BH; bh++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[(bh * M + m) * K + k] * b[(bh * K + k) * N + n];
        out[(bh * M + m) * N + n] = s;
      }
    }
  }
  return out;
}

test('(f) matmul sdd/dsd/dds, every transA/transB, equal a naive matmul of the densified operands', () => {
  const rng = mulberry32(13);
  for (let rep = 0; rep < 3; rep++) {
    const B = 1 + (rep % 2), H = 2, block = [1, 2, 3][rep];
    const R = 3, C = 2, K = 5; // sparse operand / result blocks R x C, inner dimension K (dense)
    const M = R * block, N = C * block;
    const layout = randomLayout(H, R, C, 0.5, rng, { block });
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const tag = `rep ${rep} transA=${transA} transB=${transB}`;
        // sdd: op(a) [M, K] · op(b) [K, N] → blocks of layout [H, R, C]
        const a = randomTensor(transA ? [B, H, K, M] : [B, H, M, K], rng);
        const b = randomTensor(transB ? [B, H, N, K] : [B, H, K, N], rng);
        const opA = transA ? transpose4(a.data, B * H, K, M) : a.data;
        const opB = transB ? transpose4(b.data, B * H, N, K) : b.data;
        const want = sparseFromDense64(naiveMatmul(opA, opB, B * H, M, K, N), B, layout);
        assertClose(referenceMatmul({ mode: 'sdd', a, b, layout, transA, transB }), want, { ...F64_TOL, label: `sdd ${tag}` });

        // dsd: sparse stored [M, N] (layout R x C); op(sa) is [M, N] or [N, M]; dense op(d) has K columns.
        const sa = randomSparse(B, layout, rng);
        const saDense = denseFromSparse(sa);
        const [rows, inner] = transA ? [N, M] : [M, N];
        const opSa = transA ? transpose4(saDense, B * H, M, N) : saDense;
        const d = randomTensor(transB ? [B, H, K, inner] : [B, H, inner, K], rng);
        const opD = transB ? transpose4(d.data, B * H, K, inner) : d.data;
        assertClose(referenceMatmul({ mode: 'dsd', a: sa, b: d, transA, transB }), naiveMatmul(opSa, opD, B * H, rows, inner, K), { ...F64_TOL, label: `dsd ${tag}` });

        // dds: dense op(e) [K, inner] · sparse op(sb) [inner, cols].
        const [inner2, cols] = transB ? [N, M] : [M, N];
        const e = randomTensor(transA ? [B, H, inner2, K] : [B, H, K, inner2], rng);
        const opE = transA ? transpose4(e.data, B * H, inner2, K) : e.data;
        const opSb = transB ? transpose4(saDense, B * H, M, N) : saDense;
        assertClose(referenceMatmul({ mode: 'dds', a: e, b: sa, transA, transB }), naiveMatmul(opE, opSb, B * H, K, inner2, cols), { ...F64_TOL, label: `dds ${tag}` });
      }
    }
  }
});

test('(f) matmul rejects mismatched shapes', () => {
  const rng = mulberry32(1);
  const layout = randomLayout(1, 2, 2, 1, rng, { block: 2 });
  assert.throws(() => referenceMatmul({ mode: 'sdd', a: randomTensor([1, 1, 4, 3], rng), b: randomTensor([1, 1, 2, 4], rng), layout }), /inner/);
  assert.throws(() => referenceMatmul({ mode: 'sdd', a: randomTensor([1, 1, 6, 3], rng), b: randomTensor([1, 1, 3, 4], rng), layout }), /layout/);
});

// ---------------------------------------------------------------- (g) assertClose can fail

test('(g) assertClose fails on a result perturbed by 1e-3, on NaN/Inf and on length mismatch', () => {
  const rng = mulberry32(17);
  const expected = Float64Array.from({ length: 100 }, () => rng() * 2 - 1);
  assertClose(expected, expected, { label: 'identical' });
  assertClose(expected.map((x) => x + 4e-5), expected, { ...CPU_TOL, label: 'within atol' });

  const wrong = expected.map((x) => x + 1e-3);
  assert.throws(() => assertClose(wrong, expected, CPU_TOL), /100 of 100 values.*first at index 0.*max abs error/);
  assert.throws(() => assertClose(expected.map((x) => x + 2.5e-3), expected, GPU_TOL));
  const one = Float64Array.from(expected);
  one[42] += 1e-3 + 1e-3 * Math.abs(one[42]);
  assert.throws(() => assertClose(one, expected, { ...CPU_TOL, label: 'one off' }), /one off: 1 of 100 values.*index 42/);

  const nan = Float64Array.from(expected);
  nan[7] = NaN;
  assert.throws(() => assertClose(nan, expected), /index 7/);
  const inf = Float64Array.from(expected);
  inf[3] = Infinity;
  assert.throws(() => assertClose(inf, expected), /index 3/);
  assertClose([NaN, Infinity, -Infinity, 1], [NaN, Infinity, -Infinity, 1], { label: 'same non-finite' });
  assert.throws(() => assertClose([1, 2], [1, 2, 3]), /length/);
  const r = compareClose(one, expected, CPU_TOL);
  assert.equal([r.ok, r.violations, r.firstIndex, r.maxAbsErrorIndex], [false, 1, 42, 42]);
});

// ---------------------------------------------------------------- property: rows of P sum to 1 or 0

test('(property) every row of P sums to 1, or is all zeros exactly when nothing is left to attend to', () => {
  const modes = ['none', 'add', 'mul'] as const;
  fc.assert(
    fc.property(fc.integer(), fc.boolean(), fc.boolean(), fc.constantFrom(...modes), fc.constantFrom(...modes), (seed, causal, rpe, kpmMode, amMode) => {
      const rng = mulberry32(seed);
      const args = randomAttentionArgs(rng, {
        causal, rpe, keyPaddingMaskMode: kpmMode, attnMaskMode: amMode, allowEmptyRows: true, density: 0.5,
        shapeOptions: { maxB: 2, maxH: 2, maxBlocksPerSide: 4, maxD: 4 },
      });
      const [B, H, N] = args.q.shape;
      const { layout } = args;
      const R = layout.shape[1];
      const P = referenceAttentionProbabilities(args);
      const kpmMasks = (b: number, j: number) => {
        const m = args.keyPaddingMask?.data[b * N + j];
        return m !== undefined && (args.keyPaddingMaskMode === 'mul' ? m === 0 : m === -Infinity);
      };
      const amMasks = (i: number, j: number) => {
        const m = args.attnMask?.data[i * N + j];
        return m !== undefined && (args.attnMaskMode === 'add' ? m === -Infinity : m === 0);
      };
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          for (let i = 0; i < N; i++) {
            let sum = 0;
            let any = false;
            for (let j = 0; j < N; j++) {
              const p = P[((b * H + h) * N + i) * N + j];
              const open = layout.data[(h * R + Math.floor(i / layout.block)) * R + Math.floor(j / layout.block)] === 1 &&
                !(causal && j > i) && !kpmMasks(b, j) && !amMasks(i, j);
              if (open ? !(p > 0) : p !== 0) return false;
              any ||= open;
              sum += p;
            }
            if (any ? Math.abs(sum - 1) > 1e-12 : sum !== 0) return false;
          }
        }
      }
      return true;
    }),
    { numRuns: 200, seed: 20240601 },
  );
});

test('(h) GQA equals multi-head attention over kv heads repeated, dk and dv summed over each group; lse = ln Σ exp', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 3, 4), fc.boolean(), fc.integer({ min: 1, max: 1e6 }), (B, Hkv, G, causal, seed) => {
      const rng = mulberry32(seed);
      const H = Hkv * G;
      const a = randomAttentionArgs(rng, { shape: { B, H, N: 8, D: 3, block: 2, R: 4 }, kvHeads: Hkv, causal, rpe: true, keyPaddingMaskMode: 'mul', allowEmptyRows: true });
      const dout = randomTensor(a.q.shape, rng);
      const [, , N, D] = a.q.shape;
      // k, v with each kv head copied to its G query heads
      const repeat = (t: { data: Float32Array }) => {
        const data = new Float32Array(B * H * N * D);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) data.set(t.data.subarray((b * Hkv + Math.floor(h / G)) * N * D, (b * Hkv + Math.floor(h / G) + 1) * N * D), (b * H + h) * N * D);
        }
        return { data, shape: [B, H, N, D] };
      };
      const mha = { ...a, k: repeat(a.k), v: repeat(a.v) };
      assertClose(referenceAttention(a), referenceAttention(mha), { ...F64_TOL, label: 'out' });
      const g = referenceAttentionBackward({ ...a, dout });
      const gm = referenceAttentionBackward({ ...mha, dout });
      assertClose(g.dq, gm.dq, { ...F64_TOL, label: 'dq' });
      for (const name of ['dk', 'dv'] as const) {
        const summed = new Float64Array(B * Hkv * N * D);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            const from = (b * H + h) * N * D;
            const to = (b * Hkv + Math.floor(h / G)) * N * D;
            for (let i = 0; i < N * D; i++) summed[to + i] += gm[name][from + i];
          }
        }
        assertClose(g[name], summed, { ...F64_TOL, label: name });
      }
      // lse: the log of the softmax's normaliser, from P and the scores; −∞ where P's row is all 0
      const P = referenceAttentionProbabilities(a);
      const lse = referenceLse(a);
      const scale = 1 / Math.sqrt(D);
      for (let bh = 0; bh < B * H; bh++) {
        const kv = (Math.floor(bh / H) * Hkv + Math.floor((bh % H) / G)) * N;
        for (let i = 0; i < N; i++) {
          const row = (bh * N + i) * N;
          let j = 0;
          while (j < N && P[row + j] === 0) j++;
          if (j === N) {
            assert.is(lse[bh * N + i], -Infinity);
            continue;
          }
          // p_ij = exp(s_ij − lse): s_ij from q, k and the bias
          let dotQk = 0;
          for (let d = 0; d < D; d++) dotQk += a.q.data[(bh * N + i) * D + d] * a.k.data[(kv + j) * D + d];
          const s = dotQk * scale + a.rpe!.data[row + j];
          assertClose([Math.log(P[row + j])], [s - lse[bh * N + i]], { ...F64_TOL, label: 'lse' });
        }
      }
    }),
    { numRuns: 30, seed: 1414 },
  );
});

test('reference validates its inputs', () => {
  const rng = mulberry32(2);
  const args = randomAttentionArgs(rng, { shape: { B: 1, H: 1, N: 4, D: 2, block: 2, R: 2 } });
  assert.throws(() => referenceAttention({ ...args, k: randomTensor([1, 1, 4, 3], rng) }), /k\.shape/);
  assert.throws(() => referenceAttention({ ...args, rpe: randomTensor([1, 1, 4, 3], rng) }), /rpe\.shape/);
  assert.throws(() => referenceAttention({ ...args, layout: { ...args.layout, block: 1 } }), /layout/); // 2 block rows of 1 do not cover 4 rows
  assert.throws(() => referenceAttention({ ...args, scale: NaN }), /scale/);
});

test.run();
