// Bad input rejects with a typed error naming the argument, before dispatch, and the engine stays
// usable. These pin the messages of src/errors.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BigBirdSparsityConfig, BlockSparseLinear, compileLayout, createEngine, describeLayout, fromFloat16, layoutFromMask, layoutToSVG, toFloat16, type Engine,
} from '../src/index.js';
import { PREFIX, show } from '../src/errors.js';
import type { Layout, Tensor } from '../src/types.js';

let engine: Engine;
const t = (shape: number[], fill = 0.5): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape });
const dense = (H: number, nb: number, block: number): Layout => ({ block, shape: [H, nb, nb], data: new Uint8Array(H * nb * nb).fill(1) });
const good = () => ({ q: t([1, 2, 32, 8]), k: t([1, 2, 32, 8]), v: t([1, 2, 32, 8]), layout: dense(2, 2, 16) });

async function rejects(p: () => Promise<unknown>, type: ErrorConstructor, pattern: RegExp): Promise<void> {
  try {
    await p();
  } catch (e) {
    assert.instance(e, type, `expected ${type.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a ${type.name} matching ${pattern}`);
}

test.before(async () => {
  engine = await createEngine({ backend: 'cpu', threads: 1 });
});
test.after(async () => {
  await engine.close();
});

test('options: unknown backend and bad threads', async () => {
  await rejects(() => createEngine({ backend: 'tpu' as never }), RangeError, /options\.backend must be 'cpu', 'webgpu' or 'auto', got 'tpu'/);
  await rejects(() => createEngine({ backend: 'cpu', threads: 0 }), RangeError, /options\.threads must be a positive integer, got 0/);
  await rejects(() => createEngine({ backend: 'cpu', threads: 1.5 }), TypeError, /options\.threads must be a positive integer, got 1\.5/);
  await rejects(() => createEngine({ backend: 'cpu', threads: '2' as never }), TypeError, /options\.threads must be a positive integer, got '2'/);
  await rejects(() => createEngine({ backend: 'cpu', experimentalWebgpu: 'yes' as never }), TypeError, /options\.experimentalWebgpu must be a boolean/);
});

test('attention: tensors', async () => {
  await rejects(() => engine.attention({ ...good(), q: { data: [1, 2] as never, shape: [1, 2] } }), TypeError, /q\.data must be a Float32Array/);
  await rejects(() => engine.attention({ ...good(), q: t([1, 2, 32]) }), RangeError, /q\.shape must be \[B, H, Nq, D\], got \[1, 2, 32\]/);
  await rejects(() => engine.attention({ ...good(), q: { data: new Float32Array(10), shape: [1, 2, 32, 8] } }), RangeError, /q\.data\.length \(10\) must equal the product of q\.shape \[1, 2, 32, 8\] \(512\)/);
  await rejects(() => engine.attention({ ...good(), k: t([1, 2, 32, 4]) }), RangeError, /k\.shape\[3\] \(D\) must equal 8, got 4/);
  await rejects(() => engine.attention({ ...good(), v: t([1, 3, 32, 8]) }), RangeError, /^v\.shape\[1\] \(Hkv\) must equal k\.shape\[1\] \(2\), got 3$/);
});

test('attention: grouped kv heads (GQA, MQA) and returnLse', async () => {
  const q = t([1, 4, 32, 8]);
  const layout = dense(4, 2, 16);
  await rejects(() => engine.attention({ q, k: t([1, 3, 32, 8]), v: t([1, 3, 32, 8]), layout }), RangeError,
    /^k\.shape\[1\] \(Hkv\) must divide q\.shape\[1\] \(Hq = 4\), got 3: query head h reads kv head floor\(h \/ \(Hq \/ Hkv\)\)$/);
  await rejects(() => engine.attention({ q, k: t([1, 8, 32, 8]), v: t([1, 8, 32, 8]), layout }), RangeError, /^k\.shape\[1\] \(Hkv\) must divide q\.shape\[1\] \(Hq = 4\), got 8/);
  await rejects(() => engine.attention({ q, k: t([1, 2, 32, 8]), v: t([1, 1, 32, 8]), layout }), RangeError, /^v\.shape\[1\] \(Hkv\) must equal k\.shape\[1\] \(2\), got 1$/);
  await rejects(() => engine.attention({ q, k: t([1, 2, 32, 8]), v: t([1, 2, 16, 8]), layout }), RangeError, /^v\.shape\[2\] \(N\) must equal k\.shape\[2\] \(32\), got 16$/);
  // queries against fewer keys pass validation, and the CPU takes them
  assert.equal((await engine.attention({ q, k: t([1, 2, 16, 8]), v: t([1, 2, 16, 8]), layout, qOffset: 0 })).shape, [1, 4, 32, 8]);
  await rejects(() => engine.attention({ q, k: t([2, 2, 32, 8]), v: t([2, 2, 32, 8]), layout }), RangeError, /^k\.shape\[0\] \(B\) must equal 1, got 2$/);
  await rejects(() => engine.attention({ q, k: t([1, 2, 32]), v: t([1, 2, 32, 8]), layout }), RangeError, /^k\.shape must be \[B, Hkv, Nk, D\], got \[1, 2, 32\]$/);
  await rejects(() => engine.attention({ ...good(), returnLse: 1 as never }), TypeError, /^returnLse must be a boolean, got 1$/);
  await rejects(() => engine.attention({ ...good(), returnLse: 'yes' as never }), TypeError, /^returnLse must be a boolean, got 'yes'$/);
  // rpe and dout are by query head
  await rejects(() => engine.attention({ q, k: t([1, 2, 32, 8]), v: t([1, 2, 32, 8]), layout, rpe: t([1, 2, 32, 32]) }), RangeError, /^rpe\.shape\[1\] \(H\) must equal 4, got 2$/);
  await rejects(() => engine.attentionBackward({ q, k: t([1, 2, 32, 8]), v: t([1, 2, 32, 8]), layout, dout: t([1, 2, 32, 8]) }), RangeError, /^dout\.shape\[1\] \(H\) must equal 4, got 2$/);
  // the engine stays usable, and takes the shapes it checked
  const out = await engine.attention({ q, k: t([1, 1, 32, 8]), v: t([1, 1, 32, 8]), layout });
  assert.equal(out.shape, [1, 4, 32, 8]);
  const g = await engine.attentionBackward({ q, k: t([1, 2, 32, 8]), v: t([1, 2, 32, 8]), layout, dout: t([1, 4, 32, 8]) });
  assert.equal([g.dq.shape, g.dk.shape, g.dv.shape], [[1, 4, 32, 8], [1, 2, 32, 8], [1, 2, 32, 8]]);
  const r = await engine.attention({ ...good(), returnLse: true });
  assert.equal([r.out.shape, r.lse.shape], [[1, 2, 32, 8], [1, 2, 32]]);
  assert.ok(r.lse.data instanceof Float32Array);
  const plain = await engine.attention({ ...good(), returnLse: false });
  assert.equal(plain.shape, [1, 2, 32, 8], 'returnLse: false resolves to a Tensor, as without it');
});

test('attention: layout', async () => {
  const base = good();
  // N not a multiple of the block: a layout of ceil(N / block) block rows passes validation, and the CPU takes the partial block
  assert.equal((await engine.attention({ ...base, q: t([1, 2, 40, 8]), k: t([1, 2, 40, 8]), v: t([1, 2, 40, 8]), layout: dense(2, 3, 16) })).shape, [1, 2, 40, 8]);
  await rejects(() => engine.attention({ ...base, q: t([1, 2, 40, 8]), k: t([1, 2, 40, 8]), v: t([1, 2, 40, 8]) }), RangeError, /layout\.shape\[1\] must be at least ceil\(N \/ block\) = 3/);
  await rejects(() => engine.attention({ ...base, layout: { block: 16, shape: [2, 2, 2, 2], data: new Uint8Array(16) } as never }), RangeError, /layout\.shape\[0\] \(B, one layout per batch row\) must equal 1, got 2/);
  // one batch row's own layout is the shared case; the CPU takes one per batch row too
  await engine.attention({ ...base, layout: { block: 16, shape: [1, 2, 2, 2], data: new Uint8Array(8).fill(1) } });
  const q2 = t([2, 2, 32, 8]);
  assert.equal((await engine.attention({ q: q2, k: q2, v: q2, layout: { block: 16, shape: [2, 2, 2, 2], data: new Uint8Array(16).fill(1) } })).shape, [2, 2, 32, 8]);
  await rejects(() => engine.attention({ ...base, layout: dense(3, 2, 16) }), RangeError, /layout\.shape\[0\] \(layout heads Hl\) must divide q\.shape\[1\] \(H = 2\).*got 3/);
  await rejects(() => engine.attention({ ...base, layout: dense(2, 1, 16) }), RangeError, /layout\.shape\[1\] must be at least ceil\(N \/ block\) = 2 \(a larger layout is read top-left\), got 1/);
  await rejects(() => engine.attention({ ...base, layout: { block: 16, shape: [2, 2, 1], data: new Uint8Array(4).fill(1) } }), RangeError, /layout\.shape\[2\] must be at least ceil\(N \/ block\) = 2/);
  await rejects(() => engine.attention({ ...base, layout: { block: 16, shape: [2, 2, 2], data: new Uint8Array(3) } }), RangeError, /layout\.data\.length \(3\) must equal/);
  await rejects(() => engine.attention({ ...base, layout: { block: 0, shape: [2, 2, 2], data: new Uint8Array(8) } }), RangeError, /layout\.block must be a positive integer, got 0/);
});

test('attention: keyLengths and qOffset', async () => {
  const base = good();
  await rejects(() => engine.attention({ ...base, keyLengths: [32] as never }), TypeError, /keyLengths must be an Int32Array \[B\], got \[32\]/);
  await rejects(() => engine.attention({ ...base, keyLengths: Int32Array.of(32, 32) }), RangeError, /keyLengths\.length must equal B \(1\), got 2/);
  await rejects(() => engine.attention({ ...base, keyLengths: Int32Array.of(33) }), RangeError, /keyLengths\[0\] must be in \[0, 32\] \(Nk\), got 33/);
  // the default qOffset, keyLengths[b] − Nq, is below 0 when a row has fewer keys than queries
  await rejects(() => engine.attention({ ...base, keyLengths: Int32Array.of(20) }), RangeError, /qOffset defaults to keyLengths\[0\] − Nq = -12 for batch row 0, below 0: pass qOffset/);
  await rejects(() => engine.attention({ ...base, qOffset: 1.5 }), TypeError, /qOffset must be a non-negative integer or an Int32Array \[B\], got 1\.5/);
  await rejects(() => engine.attention({ ...base, qOffset: -1 }), RangeError, /qOffset must be a non-negative integer, got -1/);
  await rejects(() => engine.attention({ ...base, qOffset: Int32Array.of(0, 0) }), RangeError, /qOffset\.length must equal B \(1\), got 2/);
  await rejects(() => engine.attention({ ...base, qOffset: 'x' as never }), TypeError, /qOffset must be/);
  await rejects(() => engine.attention({ ...base, qOffset: 4 }), RangeError, /layout\.shape\[1\] must be at least ceil\(\(qOffset \+ Nq\) \/ block\) = 3/);
  assert.equal((await engine.attention({ ...base, qOffset: 4, layout: dense(2, 3, 16) })).shape, [1, 2, 32, 8]);
  // positions are 32-bit in the kernels: an offset past that is refused, not wrapped (2^32 read as 0)
  await rejects(() => engine.attention({ ...base, qOffset: 2 ** 32 }), RangeError, /^qOffset must be at most 2147483615 \(2\^31 − 1 − Nq: positions are 32-bit integers\), got 4294967296$/);
  await rejects(() => engine.attention({ ...base, qOffset: Int32Array.of(2 ** 31 - 1) }), RangeError, /^qOffset\[0\] must be at most 2147483615 /);
  await rejects(() => engine.selectBlocks({ q: base.q, k: base.k, block: 16, topK: 1, qOffset: 2 ** 31 }), RangeError, /^qOffset must be at most /);
  // without keyLengths the default offset is Nk − Nq
  await rejects(() => engine.attention({ ...base, k: t([1, 2, 16, 8]), v: t([1, 2, 16, 8]) }), RangeError, /^qOffset defaults to Nk − Nq = -16 for batch row 0, below 0/);
  // usable after each refusal, and qOffset 0 with keyLengths is taken
  const out = await engine.attention({ ...base, keyLengths: Int32Array.of(20), qOffset: 0 });
  assert.is(out.shape.join(), '1,2,32,8');
});

test('attention: scale, causal, masks and modes', async () => {
  await rejects(() => engine.attention({ ...good(), scale: NaN }), RangeError, /scale must be a finite number, got NaN/);
  await rejects(() => engine.attention({ ...good(), scale: '1' as never }), TypeError, /^scale must be a finite number, got '1'$/);
  await rejects(() => engine.attention({ ...good(), causal: 1 as never }), TypeError, /causal must be a boolean, got 1/);
  await rejects(() => engine.attention({ ...good(), rpe: t([1, 2, 32, 16]) }), RangeError, /rpe\.shape\[3\] \(N\) must equal 32, got 16/);
  await rejects(() => engine.attention({ ...good(), keyPaddingMask: t([2, 32]) }), RangeError, /keyPaddingMask\.shape\[0\] \(B\) must equal 1, got 2/);
  await rejects(() => engine.attention({ ...good(), keyPaddingMask: t([1, 32]), keyPaddingMaskMode: 'xor' as never }), RangeError, /keyPaddingMaskMode must be 'add' or 'mul', got 'xor'/);
  await rejects(() => engine.attention({ ...good(), attnMask: t([32, 32]), attnMaskMode: 'max' as never }), RangeError, /attnMaskMode must be 'add' or 'mul', got 'max'/);
  await rejects(() => engine.attentionBackward({ ...good(), dout: t([1, 2, 32, 4]) }), RangeError, /dout\.shape\[3\] \(D\) must equal 8, got 4/);
});

test('lastTimings speak for the last call only: an upload after an op reports no kernels', async () => {
  await engine.matmul({ mode: 'sdd', a: t([1, 2, 32, 8]), b: t([1, 2, 8, 32]), layout: dense(2, 2, 16) });
  assert.ok(engine.lastTimings!.kernels!.length > 0);
  const d = await engine.upload(t([1, 2, 32, 8]));
  assert.is(engine.lastTimings!.op, 'upload');
  assert.is(engine.lastTimings!.kernelMs, undefined, `an upload runs no kernel: ${JSON.stringify(engine.lastTimings)}`);
  d.destroy();
});

test('sdd returns the caller\'s layout, not another object sharing its data', async () => {
  const first = dense(2, 2, 16);
  await engine.matmul({ mode: 'sdd', a: t([1, 2, 32, 8]), b: t([1, 2, 8, 32]), layout: first });
  const second = { ...first }; // same data array, another object
  const out = await engine.matmul({ mode: 'sdd', a: t([1, 2, 32, 8]), b: t([1, 2, 8, 32]), layout: second });
  assert.ok(out.layout === second);
});

test('matmul and softmax: modes and shapes', async () => {
  const layout = dense(2, 2, 16);
  await rejects(() => engine.matmul({ mode: 'xyz' as never, a: t([1, 2, 32, 8]), b: t([1, 2, 8, 32]), layout }), RangeError, /mode must be 'sdd', 'dsd' or 'dds', got 'xyz'/);
  await rejects(() => engine.matmul({ mode: 'sdd', a: t([1, 2, 32, 8]), b: t([1, 2, 4, 32]), layout }), RangeError, /b\.shape\[2\] \(the inner dimension K of a\) must equal 8, got 4/);
  await rejects(() => engine.matmul({ mode: 'sdd', a: t([1, 2, 32, 8]), b: t([1, 2, 8, 32]), layout: dense(2, 3, 8) }), RangeError, /layout\.shape\[1\] \(M \/ block\) must equal 4, got 3/);
  const x = { layout, data: new Float32Array(1 * 8 * 16 * 16), shape: [1, 8, 16, 16] as [number, number, number, number] };
  await rejects(() => engine.softmax({ x: { ...x, shape: [1, 7, 16, 16] } }), RangeError, /x\.shape\[1\] \(the layout's kept blocks\) must equal 8, got 7/);
  await rejects(() => engine.softmax({ x, scale: Infinity }), RangeError, /scale must be a finite number, got Infinity/);
  await rejects(() => engine.matmul({ mode: 'dsd', a: x, b: t([1, 2, 16, 4]) }), RangeError, /b\.shape\[2\] \(the columns K of op\(a\)\) must equal 32, got 16/);
  const other = dense(2, 2, 16);
  other.data[1] = 0;
  await rejects(() => engine.softmaxBackward({ y: x, dy: { ...x, layout: other, shape: [1, 7, 16, 16], data: new Float32Array(7 * 256) } }), RangeError, /dy\.layout must be the layout of y/);
});

test('block sides past 2^15 are refused wherever a block is given (a 2^31 block wrapped in the kernels)', async () => {
  const huge = { block: 2 ** 31, shape: [2, 1, 1] as [number, number, number], data: new Uint8Array([1, 1]) };
  await rejects(() => engine.attention({ ...good(), layout: huge }), RangeError, /^layout\.block must be at most 32768 \(a block's score tile is block² floats\), got 2147483648$/);
  await rejects(() => engine.selectBlocks({ q: good().q, k: good().k, block: 32769, topK: 1 }), RangeError, /^block must be at most 32768/);
  await rejects(() => engine.createKvCache({ batch: 1, kvHeads: 2, headDim: 8, capacity: 64, summaryBlock: 2 ** 31 }), RangeError, /^summaryBlock must be at most 32768/);
  assert.throws(() => new BigBirdSparsityConfig({ numHeads: 1, block: 2 ** 16 }), (e: Error) => e instanceof RangeError && /^block must be at most 32768/.test(e.message));
  assert.throws(() => layoutFromMask(1, 1, () => true, 2 ** 40), (e: Error) => e instanceof RangeError && /^block must be at most 32768/.test(e.message));
  // the largest block is taken (one block of 32768 over 32 tokens would need 4 GiB of scratch: the memory wall says so)
  await rejects(() => engine.attention({ ...good(), layout: { ...huge, block: 32768 } }), RangeError, /past the 4096 MiB limit of 32-bit WebAssembly/);
  const out = await engine.attention({ ...good(), layout: { ...huge, block: 64 } });
  assert.equal(out.shape, [1, 2, 32, 8]);
});

test('the public helpers check their arguments: toFloat16, fromFloat16, compileLayout, layoutToSVG, BlockSparseLinear', async () => {
  assert.throws(() => toFloat16([1, 2] as never), (e: Error) => e instanceof TypeError && /^toFloat16: values must be a Float32Array, got \[1, 2\]$/.test(e.message));
  assert.throws(() => toFloat16(new Float64Array(2) as never), (e: Error) => e instanceof TypeError && /must be a Float32Array, got a Float64Array/.test(e.message));
  assert.throws(() => fromFloat16(new Float32Array(2) as never), (e: Error) => e instanceof TypeError && /^fromFloat16: bits must be a Uint16Array of half-float bits/.test(e.message));
  assert.equal(Array.from(fromFloat16(toFloat16(Float32Array.of(1.5, -2)))), [1.5, -2]);
  assert.throws(() => compileLayout(null as never), (e: Error) => e instanceof TypeError && /^layout must be a Layout/.test(e.message));
  assert.throws(() => compileLayout({ block: 16, shape: [1, 2], data: new Uint8Array(2) } as never), (e: Error) => e instanceof RangeError && /^layout\.shape must be \[H, R, C\] or \[B, H, R, C\], got \[1, 2\]$/.test(e.message));
  assert.is(compileLayout(dense(2, 2, 16)).nnz, 8);
  const layout = dense(1, 2, 16);
  assert.throws(() => layoutToSVG(layout, null as never), (e: Error) => e instanceof TypeError && /^options must be an object, got null$/.test(e.message));
  assert.throws(() => layoutToSVG(layout, { title: 5 as never }), (e: Error) => e instanceof TypeError && /^title must be a string, got 5$/.test(e.message));
  assert.throws(() => layoutToSVG(layout, { head: [0] } as never), (e: Error) => e instanceof TypeError && /^layoutToSVG: unknown option head/.test(e.message));
  assert.match(layoutToSVG(layout, { title: 'x' }), /<title>x<\/title>/);
  // refused before anything of its size is made (a JavaScript array of 2^28 free blocks ended the process)
  assert.throws(() => new BlockSparseLinear({ inFeatures: 2 ** 19, outFeatures: 2 ** 19, density: 0.5 }),
    (e: Error) => e instanceof RangeError && /^BlockSparseLinear: the layer is too large: its kept weight is 137438953472 floats, past 1073741824/.test(e.message));
  assert.throws(() => new BlockSparseLinear({ inFeatures: 2 ** 21, outFeatures: 2 ** 20, density: 1e-9, block: 32 }),
    (e: Error) => e instanceof RangeError && /^BlockSparseLinear: the layer is too large: its layout has 32768×65536 blocks/.test(e.message));
});

test('a misspelt argument name is refused, naming the one meant; other unknown keys are ignored', async () => {
  const misspelt = (call: string, key: string, meant: string) => new RegExp(`^${call}: unknown argument ${key} \\(did you mean ${meant}\\?\\): a misspelt option would be ignored$`);
  for (const [key, meant] of [['causual', 'causal'], ['casual', 'causal'], ['Causal', 'causal'], ['causl', 'causal'], ['returnLSE', 'returnLse'], ['key_lengths', 'keyLengths'], ['qoffset', 'qOffset'], ['layot', 'layout']]) {
    await rejects(() => engine.attention({ ...good(), [key]: true } as never), TypeError, misspelt('attention', key, meant));
  }
  await rejects(() => engine.attentionBackward({ ...good(), dout: good().q, dOut: 1 } as never), TypeError, misspelt('attentionBackward', 'dOut', 'dout'));
  await rejects(() => engine.selectBlocks({ q: good().q, k: good().k, block: 16, topk: 1 } as never), TypeError, misspelt('selectBlocks', 'topk', 'topK'));
  await rejects(() => engine.selectBlocks({ q: good().q, k: good().k, block: 16, topK: 1, keep: { frist: 1 } } as never), TypeError, misspelt('keep', 'frist', 'first'));
  await rejects(() => engine.createKvCache({ batch: 1, kvHeads: 1, headDim: 8, capacity: 8, summary_block: 4 } as never), TypeError, misspelt('createKvCache', 'summary_block', 'summaryBlock'));
  await rejects(() => createEngine({ backend: 'cpu', thread: 2 } as never), TypeError, misspelt('createEngine', 'thread', 'threads'));
  // unrelated keys, short names, and names another call takes (a selection's score, topK and block) pass
  const out = (await engine.attention({ ...good(), foo: 1, x: 2, K: 3, score: 'mean', topK: 2, block: 16 } as never)) as unknown as Tensor;
  assert.equal(out.shape, [1, 2, 32, 8]);
});

test('the engine stays usable after bad calls', async () => {
  await rejects(() => engine.attention({ ...good(), scale: NaN }), RangeError, /scale/);
  const out = await engine.attention(good());
  assert.equal(out.shape, [1, 2, 32, 8]);
  assert.is(engine.lastTimings?.op, 'attention', 'timings describe the last completed call, not the rejected one');
  assert.ok(engine.lastTimings!.wallMs > 0);
  const { kernelMs, kernels, wallMs } = engine.lastTimings!;
  assert.ok(typeof kernelMs === 'number' && kernelMs > 0 && kernelMs <= wallMs, `CPU kernel time ${kernelMs} within the call's ${wallMs} ms`);
  assert.equal(kernels!.map((k) => k.kernel), ['attentionForward']);
  // uniform v: every output equals v's value whatever the weights
  assert.ok(out.data.every((x) => Math.abs(x - 0.5) < 1e-6));
});

test('one checkLayout: the engine, describeLayout and BlockSparseLinear say the same for the same mistake', async () => {
  const cases: [unknown, ErrorConstructor, RegExp][] = [
    [null, TypeError, /^layout must be a Layout \{ block, shape, data \}, got null$/],
    [{ block: '16', shape: [1, 2, 2], data: new Uint8Array(4) }, TypeError, /^layout\.block must be a positive integer, got '16'$/],
    [{ block: 0, shape: [1, 2, 2], data: new Uint8Array(4) }, RangeError, /^layout\.block must be a positive integer, got 0$/],
    [{ block: 16, shape: 'x', data: new Uint8Array(4) }, TypeError, /^layout\.shape must be \[H, R, C\], got 'x'$/],
    [{ block: 16, shape: [1, 2], data: new Uint8Array(4) }, RangeError, /^layout\.shape must be \[H, R, C\], got \[1, 2\]$/],
    [{ block: 16, shape: [1, 0, 2], data: new Uint8Array(0) }, RangeError, /^layout\.shape\[1\] must be a positive integer, got 0$/],
    [{ block: 16, shape: [1, 2, 2], data: [1, 1, 1, 1] }, TypeError, /^layout\.data must be a Uint8Array, got \[1, 1, 1, 1\]$/],
    [{ block: 16, shape: [1, 2, 2], data: new Uint8Array(3) }, RangeError, /^layout\.data\.length \(3\) must equal the product of layout\.shape \[1, 2, 2\] \(4\)$/],
  ];
  for (const [layout, type, pattern] of cases) {
    const q = t([1, 1, 32, 8]);
    // attention also takes [B, H, R, C]: its words for a bad shape say so
    const batched = new RegExp(pattern.source.replace('\\[H, R, C\\]', '\\[H, R, C\\] or \\[B, H, R, C\\]'));
    await rejects(() => engine.attention({ q, k: q, v: q, layout: layout as Layout }), type, batched);
    await rejects(async () => describeLayout(layout as Layout), type, pattern);
    await rejects(async () => new BlockSparseLinear({ inFeatures: 64, outFeatures: 64, layout: layout as Layout }), type, pattern);
  }
});

test('selectBlocks: the rule, block, keep and the shapes of q, k, qOffset and keyLengths; attentionMass: attention\'s checks', async () => {
  const q = t([1, 4, 32, 8]);
  const k = t([1, 2, 32, 8]);
  const sel = (extra: Record<string, unknown>) => () => engine.selectBlocks({ q, k, block: 16, topK: 1, ...extra } as never);
  await rejects(sel({ topK: undefined }), TypeError, /^selectBlocks needs a rule: pass topK \(blocks per row\) or threshold/);
  await rejects(sel({ threshold: 0.5 }), RangeError, /^pass topK or threshold, not both/);
  await rejects(sel({ topK: 0 }), RangeError, /^topK must be a positive integer, got 0$/);
  await rejects(sel({ topK: 1.5 }), TypeError, /^topK must be a positive integer, got 1\.5$/);
  await rejects(sel({ topK: '2' }), TypeError, /^topK must be a positive integer, got '2'$/);
  for (const bad of [0, -0.1, 1.01, NaN]) await rejects(sel({ topK: undefined, threshold: bad }), RangeError, /^threshold must be a number in \(0, 1\], got/);
  await rejects(sel({ topK: undefined, threshold: '0.5' }), TypeError, /^threshold must be a number in \(0, 1\], got '0\.5'$/);
  await rejects(sel({ block: 0 }), RangeError, /^block must be a positive integer, got 0$/);
  await rejects(sel({ block: 2.5 }), TypeError, /^block must be a positive integer, got 2\.5$/);
  await rejects(sel({ keep: 1 }), TypeError, /^keep must be an object, got 1$/);
  await rejects(sel({ keep: { diagonal: 1 } }), TypeError, /^keep\.diagonal must be a boolean, got 1$/);
  await rejects(sel({ keep: { first: -1 } }), RangeError, /^keep\.first must be a non-negative integer, got -1$/);
  await rejects(sel({ keep: { local: 0.5 } }), TypeError, /^keep\.local must be a non-negative integer, got 0\.5$/);
  await rejects(sel({ causal: 'yes' }), TypeError, /^causal must be a boolean, got 'yes'$/);
  await rejects(sel({ scale: Infinity }), RangeError, /^scale must be a finite number, got Infinity$/);
  await rejects(sel({ keepOnDevice: 1 }), TypeError, /^keepOnDevice must be a boolean, got 1$/);
  await rejects(sel({ q: t([1, 4, 32]) }), RangeError, /^q\.shape must be \[B, Hq, Nq, D\], got \[1, 4, 32\]$/);
  await rejects(sel({ k: t([1, 3, 32, 8]) }), RangeError, /^k\.shape\[1\] \(Hkv\) must divide q\.shape\[1\] \(Hq = 4\), got 3/);
  await rejects(sel({ k: t([2, 2, 32, 8]) }), RangeError, /^k\.shape\[0\] \(B\) must equal 1, got 2$/);
  await rejects(sel({ k: t([1, 2, 32, 4]) }), RangeError, /^k\.shape\[3\] \(D\) must equal 8, got 4$/);
  await rejects(sel({ qOffset: -1 }), RangeError, /^qOffset must be a non-negative integer, got -1$/);
  await rejects(sel({ qOffset: Int32Array.of(0, 0) }), RangeError, /^qOffset\.length must equal B \(1\), got 2$/);
  await rejects(sel({ keyLengths: [32] }), TypeError, /^keyLengths must be an Int32Array \[B\], got \[32\]$/);
  await rejects(sel({ keyLengths: Int32Array.of(33), qOffset: 0 }), RangeError, /^keyLengths\[0\] must be in \[0, 32\] \(Nk\), got 33$/);
  // a batch row without keys is taken, as attention takes it: it selects nothing
  assert.ok((await engine.selectBlocks({ q, k, block: 16, topK: 1, keyLengths: Int32Array.of(0), qOffset: 0 })).data.every((x) => x === 0));
  await rejects(sel({ k: { ...k, dtype: 'float16', data: new Uint16Array(512) } }), TypeError, /^k is float16 but q is float32/);
  await rejects(() => engine.attentionMass({ q, k, layout: dense(1, 1, 16) } as never), RangeError, /^layout\.shape\[1\] must be at least/);
  await rejects(() => engine.attentionMass({ q, k: t([1, 3, 32, 8]), layout: dense(1, 2, 16) }), RangeError, /^k\.shape\[1\] \(Hkv\) must divide/);
  await rejects(() => engine.attentionMass(null as never), TypeError, /^arguments must be an object, got null$/);
  await engine.attention(good()); // still usable
});

test('one value formatter; Errors that are not argument errors start with the prefix', async () => {
  assert.is(show('a'), "'a'");
  assert.is(show(3n), '3n');
  assert.is(show([1, 'x', [2]]), "[1, 'x', [2]]");
  assert.is(show(new Float32Array(3)), 'a Float32Array of length 3');
  assert.is(show(new Uint8Array(3)), 'a Uint8Array');
  assert.is(show(() => 0), 'a function');
  assert.is(show({}), 'an object');
  assert.is(show(null), 'null');
  assert.is(show(undefined), 'undefined');
  const closing = await createEngine({ backend: 'cpu', threads: 1 });
  await closing.close();
  await rejects(() => closing.attention(good()), Error, new RegExp(`^${PREFIX}the engine is closed$`));
});

test.run();
