// BlockSparseLinear (src/linear/) on the CPU engine beyond the op suite (test/ops.test.ts, whose
// case table test/ops/cases.ts holds the shapes checked against a float64 dense layer): the chain
// against finite differences, the matmuls it makes, the random and top-norm patterns, seeds, given
// layouts, memory figures, the default engine and every bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import { BlockSparseLinear } from '../src/linear/index.js';
import type { Layout, Tensor } from '../src/types.js';
import { assertClose } from './helpers/assert-close.js';
import { denseLinear64, denseLinearBackward64, referenceEngine } from './helpers/linear.js';
import { mulberry32, randomInt, randomTensor } from './helpers/random.js';
import { denseFromSparse, layoutNonZeros } from './reference/sparse.js';

let engine: Engine;

test.before(async () => {
  engine = await createEngine({ backend: 'cpu' });
});

test.after(async () => {
  await engine.close();
  await BlockSparseLinear.closeSharedEngine();
});

/** W of the layer as a float64 dense [out, in] matrix, from the reference's own scatter. */
const denseW = (layer: BlockSparseLinear) => denseFromSparse(layer.weight);

test('backward agrees with finite differences of forward (float64 check of the chain)', async () => {
  const rng = mulberry32(9);
  const layer = new BlockSparseLinear({ inFeatures: 16, outFeatures: 24, density: 0.5, block: 8, seed: 3, engine });
  const x = randomTensor([5, 16], rng);
  const dy = randomTensor([5, 24], rng);
  const g = await layer.backward(x, dy);
  // L = Σ dy ⊙ y is linear in W, so the kept block entries of dWeight are exact partial derivatives
  const W = denseW(layer);
  const loss = (w: Float64Array, b: Float64Array) => denseLinear64(x.data, w, b, 5, 16, 24).reduce((s, v, i) => s + v * dy.data[i], 0);
  const b0 = Float64Array.from(layer.bias!.data);
  const nz = layoutNonZeros(layer.layout);
  for (let t = 0; t < 10; t++) {
    const e = randomInt(rng, 0, nz.length - 1);
    const i = randomInt(rng, 0, 7);
    const j = randomInt(rng, 0, 7);
    const idx = (nz[e].r * 8 + i) * 16 + nz[e].c * 8 + j;
    const w2 = W.slice();
    w2[idx] += 1;
    const fd = loss(w2, b0) - loss(W, b0);
    assertClose([g.dWeight.data[(e * 8 + i) * 8 + j]], [fd], { label: 'dWeight vs finite difference' });
  }
});

test('forward is one dds matmul with transB; backward one dds and one sdd with transA', async () => {
  const ref = referenceEngine();
  const layer = new BlockSparseLinear({ inFeatures: 32, outFeatures: 16, density: 0.5, block: 8, seed: 1, engine: ref });
  const x = randomTensor([3, 32], mulberry32(1));
  await layer.forward(x);
  assert.equal(ref.calls, [{ mode: 'dds', transA: false, transB: true }]);
  ref.calls.length = 0;
  await layer.backward(x, randomTensor([3, 16], mulberry32(2)));
  assert.equal(ref.calls.map((c) => `${c.mode} ${c.transA} ${c.transB}`).sort(), ['dds false false', 'sdd true false']);
});

test('random pattern: round(density · blocks) kept, at least one per block row, in range values', () => {
  for (const [out, inF, block, density] of [[256, 128, 32, 0.25], [64, 512, 8, 0.1], [512, 64, 16, 0.05], [96, 96, 32, 1], [128, 128, 64, 0.3]] as const) {
    const layer = new BlockSparseLinear({ inFeatures: inF, outFeatures: out, density, block, seed: 5 });
    const R = out / block;
    const C = inF / block;
    const expected = Math.max(R, Math.round(density * R * C));
    assert.is(layer.nnz, expected, `nnz for ${out}x${inF}/${block} at ${density}`);
    assert.is(layer.density, expected / (R * C));
    let kept = 0;
    for (let r = 0; r < R; r++) {
      let row = 0;
      for (let c = 0; c < C; c++) row += layer.layout.data[r * C + c];
      assert.ok(row >= 1, `block row ${r} keeps a block`);
      kept += row;
    }
    assert.is(kept, expected);
    assert.equal(layer.layout.shape, [1, R, C]);
    const bound = 1 / Math.sqrt(inF);
    assert.ok(layer.weight.data.every((v) => Math.abs(v) <= bound), 'weight in ±1/sqrt(in)');
    assert.ok(layer.bias!.data.every((v) => Math.abs(v) <= bound), 'bias in ±1/sqrt(in)');
    // uniform(−b, b) has variance b²/3: a loose check that the values fill the range
    const w = layer.weight.data;
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.1, `variance ${variance} ≈ b²/3`);
  }
});

test('scaleInitByDensity widens the bound to 1/sqrt(density · in)', () => {
  const layer = new BlockSparseLinear({ inFeatures: 256, outFeatures: 128, density: 0.25, block: 16, seed: 2, scaleInitByDensity: true });
  const bound = 1 / Math.sqrt(layer.density * 256);
  const max = layer.weight.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(max <= bound && max > 0.95 * bound, `max |w| ${max} vs bound ${bound}`);
  assert.ok(layer.bias!.data.every((v) => Math.abs(v) <= 1 / 16), 'bias keeps ±1/sqrt(in)');
});

test('seeds reproduce the pattern and the values; different seeds differ', () => {
  const opts = { inFeatures: 128, outFeatures: 64, density: 0.3, block: 16 };
  const a = new BlockSparseLinear({ ...opts, seed: 42 });
  const b = new BlockSparseLinear({ ...opts, seed: 42 });
  const c = new BlockSparseLinear({ ...opts, seed: 43 });
  const big = new BlockSparseLinear({ ...opts, seed: 42n });
  assert.equal(a.layout.data, b.layout.data);
  assert.equal(a.weight.data, b.weight.data);
  assert.equal(a.bias!.data, b.bias!.data);
  assert.equal(big.weight.data, a.weight.data, 'a bigint seed equals the same number');
  assert.is.not(Buffer.from(a.weight.data.buffer).equals(Buffer.from(c.weight.data.buffer)), true);
  assert.ok(a.layout.data.some((v, i) => v !== c.layout.data[i]), 'another seed, another pattern');
  const d = new BlockSparseLinear(opts);
  const e = new BlockSparseLinear({ ...opts, seed: d.seed! });
  assert.equal(e.weight.data, d.weight.data, 'an unseeded layer reports the seed that rebuilds it');
});

test('the generator is pinned: a seed gives the same layer in every version and runtime', () => {
  const l = new BlockSparseLinear({ inFeatures: 32, outFeatures: 24, density: 0.5, block: 8, seed: 2024 });
  assert.equal([...l.layout.data], [0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1]);
  assert.equal([...l.weight.data.subarray(0, 4)], [-0.09894993901252747, -0.1497415453195572, -0.1360519677400589, -0.1395292729139328]);
  assert.is(l.weight.data[l.weight.data.length - 1], -0.09022531658411026);
  assert.equal([...l.bias!.data.subarray(0, 3)], [-0.13848315179347992, -0.03442838415503502, -0.01979987509548664]);
});

test('a given layout: kept blocks as given, copied, any non-zero counts as kept', async () => {
  const data = Uint8Array.from([1, 0, 0, 2, 0, 0, 0, 1, 1, 1, 0, 0]); // [1, 3, 4]
  const layout: Layout = { block: 8, shape: [1, 3, 4], data };
  const layer = new BlockSparseLinear({ inFeatures: 32, outFeatures: 24, layout, seed: 1, engine });
  assert.is(layer.nnz, 5);
  assert.is(layer.block, 8);
  assert.equal([...layer.layout.data], [1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0]);
  assert.ok(layer.layout.data !== data, 'the layer owns its layout');
  data[1] = 1; // the caller's array changes; the layer does not
  assert.is(layer.layout.data[1], 0);
  const x = randomTensor([7, 32], mulberry32(3));
  const y = await layer.forward(x);
  assertClose(y.data, denseLinear64(x.data, denseW(layer), layer.bias!.data, 7, 32, 24));
  // an empty block row is allowed with a layout: those outputs are the bias alone
  const sparse = new BlockSparseLinear({ inFeatures: 16, outFeatures: 16, layout: { block: 8, shape: [1, 2, 2], data: Uint8Array.from([0, 0, 0, 1]) }, engine });
  const y2 = await sparse.forward({ data: new Float32Array(16).fill(1), shape: [16] });
  assertClose(y2.data.subarray(0, 8), sparse.bias!.data.subarray(0, 8));
});

test('fromDense keeps the top-norm blocks, one per row first, ties by index; keptEnergy', async () => {
  const rng = mulberry32(11);
  const block = 8;
  const R = 4;
  const C = 6;
  // block (r, c) has every entry = scale[r][c]: ‖blk‖² = 64 · scale²
  const scale = Array.from({ length: R }, () => Array.from({ length: C }, () => Math.round(rng() * 20) / 4 - 2.5));
  scale[3] = [0.1, 0.1, 0.05, 0.1, 0, 0.1]; // a weak row still keeps one block: its first largest, column 0
  scale[1][2] = scale[0][5] = 9; // a tie among the strongest: both kept
  const w = new Float32Array(R * block * C * block);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) for (let i = 0; i < block; i++) for (let j = 0; j < block; j++) {
    w[(r * block + i) * C * block + c * block + j] = scale[r][c];
  }
  const weight: Tensor = { data: w, shape: [R * block, C * block] };
  const bias: Tensor = { data: Float32Array.from({ length: R * block }, (_, i) => i / 10), shape: [R * block] };
  const layer = BlockSparseLinear.fromDense(weight, { density: 0.4, block, bias, engine });
  const k = Math.round(0.4 * R * C); // 10
  assert.is(layer.nnz, k);
  assert.is(layer.seed, null);
  // expected: the row maxima (first on ties), then the rest by norm, lower index first on ties
  const norm = (i: number) => Math.fround(scale[(i / C) | 0][i % C]) ** 2 * 64;
  const expected = new Set<number>();
  for (let r = 0; r < R; r++) {
    let best = r * C;
    for (let c = 1; c < C; c++) if (norm(r * C + c) > norm(best)) best = r * C + c;
    expected.add(best);
  }
  const rest = [...Array(R * C).keys()].filter((i) => !expected.has(i)).sort((a, b) => norm(b) - norm(a) || a - b);
  for (const i of rest.slice(0, k - R)) expected.add(i);
  assert.equal([...layer.layout.data].flatMap((v, i) => (v ? [i] : [])), [...expected].sort((a, b) => a - b));
  assert.ok(layer.layout.data[3 * C] === 1, 'the weak row keeps its first largest block');
  const total = [...Array(R * C).keys()].reduce((s, i) => s + norm(i), 0);
  const kept = [...expected].reduce((s, i) => s + norm(i), 0);
  assertClose([layer.keptEnergy!], [kept / total], { atol: 1e-12, rtol: 1e-12 });
  // the layer holds exactly W's kept blocks and the bias, unscaled; toDense puts them back
  const dense = layer.toDense();
  assert.equal(dense.shape, [R * block, C * block]);
  for (let i = 0; i < w.length; i++) {
    const r = ((i / (C * block)) | 0) / block | 0;
    const c = ((i % (C * block)) / block) | 0;
    assert.is(dense.data[i], layer.layout.data[r * C + c] ? w[i] : 0);
  }
  assert.equal(layer.bias!.data, bias.data);
  assert.ok(layer.bias!.data !== bias.data, 'bias copied');
  const x = randomTensor([2, 3, C * block], rng);
  const y = await layer.forward(x);
  assert.equal(y.shape, [2, 3, R * block]);
  assertClose(y.data, denseLinear64(x.data, dense.data, bias.data, 6, C * block, R * block));
});

test('fromDense at density 1 is the dense layer; a weight of zeros ties by index', async () => {
  const rng = mulberry32(12);
  const weight = randomTensor([48, 64], rng);
  const layer = BlockSparseLinear.fromDense(weight, { density: 1, block: 16, engine });
  assert.is(layer.keptEnergy, 1);
  assert.is(layer.bias, null);
  assert.equal(layer.toDense().data, weight.data);
  const x = randomTensor([9, 64], rng);
  assertClose((await layer.forward(x)).data, denseLinear64(x.data, weight.data, null, 9, 64, 48));
  const zeros = BlockSparseLinear.fromDense({ data: new Float32Array(32 * 32), shape: [32, 32] }, { density: 0.75, block: 8 });
  // one per row (column 0: indices 0, 4, 8, 12), then the lowest remaining indices (1, 2, 3, 5, ..., 10)
  assert.equal([...zeros.layout.data], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0]);
  assert.is(zeros.keptEnergy, 1);
  const given = BlockSparseLinear.fromDense(weight, { layout: { block: 16, shape: [1, 3, 4], data: Uint8Array.from([0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0]) } });
  assert.is(given.nnz, 3);
  assert.ok(given.keptEnergy! > 0 && given.keptEnergy! < 1);
});

test('memory: weightBytes counts kept blocks only; parameters() are live', async () => {
  const layer = new BlockSparseLinear({ inFeatures: 512, outFeatures: 256, density: 0.25, block: 32, seed: 1, engine });
  assert.is(layer.denseWeightBytes, 512 * 256 * 4);
  assert.is(layer.weightBytes, layer.nnz * 32 * 32 * 4);
  assert.is(layer.denseWeightBytes / layer.weightBytes, 4);
  const p = layer.parameters();
  assert.ok(p.weight === layer.weight && p.bias === layer.bias);
  p.weight.data.fill(0);
  p.bias!.data.fill(2);
  const y = await layer.forward(randomTensor([3, 512], mulberry32(4)));
  assert.ok(y.data.every((v) => v === 2), 'an in-place update of the parameters is seen by forward');
});

test('the default engine is a shared CPU engine made on first use', async () => {
  const layer = new BlockSparseLinear({ inFeatures: 16, outFeatures: 8, density: 1, block: 8, seed: 1 });
  const x = randomTensor([3, 16], mulberry32(5));
  assertClose((await layer.forward(x)).data, denseLinear64(x.data, denseW(layer), layer.bias!.data, 3, 16, 8));
});

/** Runs f (sync or async) and checks it throws or rejects with `type` and a message matching `message`. */
async function throwsAsync(f: () => unknown, type: ErrorConstructor, message: RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await f();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof type, `expected a ${type.name} matching ${message}, got ${String(error)}`);
  assert.match((error as Error).message, message);
}

test('bad options throw TypeError / RangeError naming the argument', async () => {
  const ok = { inFeatures: 64, outFeatures: 32, density: 0.5 };
  const make = (o: object) => () => new BlockSparseLinear({ ...ok, ...o } as never);
  const cases: [object, ErrorConstructor, RegExp][] = [
    [{ inFeatures: 48 }, RangeError, /^inFeatures \(48\) must be a multiple of block \(32\)/],
    [{ outFeatures: 40, block: 16 }, RangeError, /^outFeatures \(40\) must be a multiple of block \(16\)/],
    [{ inFeatures: 0 }, RangeError, /^inFeatures must be a positive integer, got 0$/],
    [{ outFeatures: 32.5 }, RangeError, /^outFeatures must be a positive integer, got 32.5$/],
    [{ inFeatures: '64' }, RangeError, /^inFeatures must be a positive integer, got '64'$/],
    [{ density: 0 }, RangeError, /^density must be a number in \(0, 1\], got 0$/],
    [{ density: 1.5 }, RangeError, /^density must be a number in \(0, 1\], got 1.5$/],
    [{ density: NaN }, RangeError, /^density must be a number in \(0, 1\], got NaN$/],
    [{ density: undefined }, TypeError, /^pass density .* or layout, got neither$/],
    [{ block: 4 }, RangeError, /^block must be an integer from 8 to 128, got 4$/],
    [{ block: 256 }, RangeError, /^block must be an integer from 8 to 128, got 256$/],
    [{ block: 12.5 }, RangeError, /^block must be an integer from 8 to 128, got 12.5$/],
    [{ bias: 1 }, TypeError, /^bias must be a boolean, got 1$/],
    [{ seed: 1.5 }, TypeError, /^seed must be a safe integer or a bigint, got 1.5$/],
    [{ scaleInitByDensity: 'yes' }, TypeError, /^scaleInitByDensity must be a boolean/],
    [{ engine: {} }, TypeError, /^engine must be an Engine/],
    [{ layout: { block: 32, shape: [1, 1, 2], data: new Uint8Array(2).fill(1) } }, RangeError, /^pass density or layout, not both/],
    [{ density: undefined, layout: { block: 32, shape: [1, 2, 2], data: new Uint8Array(4).fill(1) } }, RangeError, /^layout.shape must be \[1, outFeatures \/ block, inFeatures \/ block\] = \[1, 1, 2\], got \[1, 2, 2\]$/],
    [{ density: undefined, layout: { block: 16, shape: [1, 2, 4], data: new Uint8Array(8).fill(1) }, block: 32 }, RangeError, /^layout.block \(16\) must equal block \(32\)$/],
    [{ density: undefined, layout: { block: 4, shape: [1, 8, 16], data: new Uint8Array(128).fill(1) } }, RangeError, /^layout.block must be an integer from 8 to 128, got 4$/],
    [{ density: undefined, layout: { block: 32, shape: [1, 1, 2], data: new Uint8Array(2) } }, RangeError, /^layout must keep at least one block$/],
    [{ density: undefined, layout: { block: 32, shape: [1, 1, 2], data: [1, 1] } }, TypeError, /^layout.data must be a Uint8Array/],
  ];
  for (const [o, type, message] of cases) await throwsAsync(make(o), type, message);
  await throwsAsync(() => new BlockSparseLinear(null as never), TypeError, /^options must be an object, got null$/);
  await throwsAsync(make({ in_features: 3 }), TypeError, /^BlockSparseLinear: unknown option in_features \(did you mean inFeatures\?\); known options are /);
  await throwsAsync(make({ Bias: false }), TypeError, /^BlockSparseLinear: unknown option Bias; known options are /);
});

test('bad forward / backward input rejects naming the argument; the engine stays usable', async () => {
  const layer = new BlockSparseLinear({ inFeatures: 32, outFeatures: 16, density: 0.5, block: 8, seed: 1, engine });
  const x = randomTensor([4, 32], mulberry32(6));
  const dy = randomTensor([4, 16], mulberry32(7));
  const cases: [() => Promise<unknown>, ErrorConstructor, RegExp][] = [
    [() => layer.forward(null as never), TypeError, /^x must be an object, got null$/],
    [() => layer.forward({ data: [1, 2], shape: [2] } as never), TypeError, /^x.data must be a Float32Array/],
    [() => layer.forward({ data: new Float32Array(64), shape: [4, 16] }), RangeError, /^x.shape's last dimension must equal inFeatures \(32\), got 16$/],
    [() => layer.forward({ data: new Float32Array(64), shape: [] }), RangeError, /^x.shape must be \[\.\.\., inFeatures\] of positive integers, got \[\]$/],
    [() => layer.forward({ data: new Float32Array(0), shape: [0, 32] }), RangeError, /^x.shape must be \[\.\.\., inFeatures\]/],
    [() => layer.forward({ data: new Float32Array(63), shape: [2, 32] }), RangeError, /^x.data.length \(63\) must equal the product of x.shape \[2, 32\] \(64\)$/],
    [() => layer.backward(x, { data: new Float32Array(60), shape: [4, 16] }), RangeError, /^dy.data.length \(60\) must equal/],
    [() => layer.backward(x, { data: new Float32Array(60), shape: [4, 15] }), RangeError, /^dy.shape's last dimension must equal outFeatures \(16\), got 15$/],
    [() => layer.backward(x, { data: new Float32Array(48), shape: [3, 16] }), RangeError, /^dy.shape must be \[4, 16\] \(x's leading dimensions, then outFeatures\), got \[3, 16\]$/],
    [() => layer.backward(x, { data: new Float32Array(64), shape: [2, 2, 16] }), RangeError, /^dy.shape must be \[4, 16\]/],
    [() => layer.backward({ data: new Float32Array(4), shape: [4, 1] }, dy), RangeError, /^x.shape's last dimension must equal inFeatures \(32\), got 1$/],
  ];
  for (const [f, type, message] of cases) await throwsAsync(f, type, message);
  const y = await layer.forward(x);
  assertClose(y.data, denseLinear64(x.data, denseW(layer), layer.bias!.data, 4, 32, 16), { label: 'after bad calls' });
  const g = await layer.backward(x, dy);
  assertClose(g.dx.data, denseLinearBackward64(x.data, denseW(layer), dy.data, 4, 32, 16).dx, { label: 'dx after bad calls' });
});

test('bad fromDense input throws naming the argument', async () => {
  const w: Tensor = { data: new Float32Array(32 * 64), shape: [32, 64] };
  const cases: [() => unknown, ErrorConstructor, RegExp][] = [
    [() => BlockSparseLinear.fromDense({ data: new Float32Array(64), shape: [64] }, { density: 0.5 }), RangeError, /^weight.shape must be \[outFeatures, inFeatures\], got \[64\]$/],
    [() => BlockSparseLinear.fromDense({ data: new Float32Array(48 * 64), shape: [48, 64] }, { density: 0.5 }), RangeError, /^weight.shape\[0\] \(outFeatures\) \(48\) must be a multiple of block \(32\)/],
    [() => BlockSparseLinear.fromDense(w, { density: 2 }), RangeError, /^density must be a number in \(0, 1\], got 2$/],
    [() => BlockSparseLinear.fromDense(w, {}), TypeError, /^pass density .* or layout, got neither$/],
    [() => BlockSparseLinear.fromDense(w, null as never), TypeError, /^options must be an object, got null$/],
    [() => BlockSparseLinear.fromDense(w, { density: 0.5, bias: { data: new Float32Array(16), shape: [16] } }), RangeError, /^bias.shape\[0\] \(outFeatures\) must equal 32, got 16$/],
    [() => BlockSparseLinear.fromDense(w, { density: 0.5, bias: { data: new Float32Array(32), shape: [1, 32] } }), RangeError, /^bias.shape must be \[outFeatures\], got \[1, 32\]$/],
    [() => BlockSparseLinear.fromDense({ data: new Float32Array(32 * 64).fill(NaN), shape: [32, 64] }, { density: 0.5 }), RangeError, /^weight.data must be finite \(its blocks are ranked and measured by norm\), got NaN at index 0$/],
    // with a layout too (its kept energy is a sum over every block), and a misspelt or unknown option is refused
    [() => BlockSparseLinear.fromDense({ data: new Float32Array(32 * 64).fill(NaN), shape: [32, 64] }, { layout: { block: 32, shape: [1, 1, 2], data: Uint8Array.of(1, 0) } }), RangeError, /^weight.data must be finite .* got NaN at index 0$/],
    [() => BlockSparseLinear.fromDense(w, { density: 0.5, seed: 3 } as never), TypeError, /^BlockSparseLinear\.fromDense: unknown option seed; known options are density, layout, block, bias, engine$/],
  ];
  for (const [f, type, message] of cases) await throwsAsync(f, type, message);
});

test.run();
