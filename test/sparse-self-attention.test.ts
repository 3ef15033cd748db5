// SparseSelfAttention (src/sparse-self-attention.ts), DeepSpeed's module: its master layout, the
// crop each length reads (cached), forward and backward against the float64 reference over that
// crop, DeepSpeed's defaults, and its errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/engine.js';
import { BigBirdSparsityConfig, FixedSparsityConfig, SparseSelfAttention } from '../src/index.js';
import { CPU_TOL, assertClose, mulberry32, randomTensor, referenceAttention, referenceAttentionBackward } from './reference/index.js';

const engine = await createEngine({ backend: 'cpu', threads: 1 });
test.after(async () => {
  await engine.close();
  await SparseSelfAttention.closeSharedEngine();
});

test("DeepSpeed's defaults: modes 'add' and 'mul', maxSeqLength 2048, the master layout of makeLayout(2048)", () => {
  const config = new FixedSparsityConfig({ numHeads: 2 });
  const m = new SparseSelfAttention({ sparsityConfig: config });
  assert.is(m.keyPaddingMaskMode, 'add');
  assert.is(m.attnMaskMode, 'mul');
  assert.is(m.maxSeqLength, 2048);
  assert.equal(m.masterLayout.shape, [2, 128, 128]);
  assert.equal(m.masterLayout.data, config.makeLayout(2048).data);
});

test('a length reads the top-left crop of the master layout, made once', () => {
  const m = new SparseSelfAttention({ sparsityConfig: new BigBirdSparsityConfig({ numHeads: 2, differentLayoutPerHead: true }), maxSeqLength: 256 });
  const crop = m.layoutFor(64);
  assert.equal(crop.shape, [2, 4, 4]);
  for (let h = 0; h < 2; h++) {
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) assert.is(crop.data[(h * 4 + r) * 4 + c], m.masterLayout.data[(h * 16 + r) * 16 + c]);
  }
  assert.is(m.layoutFor(64), crop, 'cached');
  assert.equal(m.layoutFor(37).shape, [2, 3, 3], 'a length not a multiple of the block covers ceil(N / block) blocks');
});

for (const causal of [false, true]) {
  test(`forward and backward equal the float64 reference over the crop (causal ${causal}, masks in the module's modes)`, async () => {
    const rng = mulberry32(14 + +causal);
    const m = new SparseSelfAttention({ sparsityConfig: new BigBirdSparsityConfig({ numHeads: 2, block: 16 }), maxSeqLength: 512, attnMaskMode: 'add', engine });
    const [B, H, N, D] = [2, 4, 96, 16];
    const [q, k, v, dout] = [0, 1, 2, 3].map(() => randomTensor([B, H, N, D], rng));
    const keyPaddingMask = randomTensor([B, N], rng);
    const attnMask = randomTensor([N, N], rng);
    const out = await m.forward(q, k, v, { keyPaddingMask, attnMask, causal });
    // H 4 over the config's 2 layout heads: head h reads layout head h % 2
    const args = { q, k, v, layout: m.layoutFor(N), keyPaddingMask, attnMask, keyPaddingMaskMode: 'add' as const, attnMaskMode: 'add' as const, causal };
    assertClose(out.data, referenceAttention(args), { ...CPU_TOL, label: 'out' });
    const g = await m.backward(q, k, v, dout, { keyPaddingMask, attnMask, causal });
    const want = referenceAttentionBackward({ ...args, dout });
    assertClose(g.dq.data, want.dq, { ...CPU_TOL, label: 'dq' });
    assertClose(g.dk.data, want.dk, { ...CPU_TOL, label: 'dk' });
    assertClose(g.dv.data, want.dv, { ...CPU_TOL, label: 'dv' });
  });
}

test('any length up to maxSeqLength: a partial last block, no padding by hand', async () => {
  const rng = mulberry32(5);
  const m = new SparseSelfAttention({ sparsityConfig: new FixedSparsityConfig({ numHeads: 2, block: 16 }), maxSeqLength: 128, engine });
  const [q, k, v, dout] = [0, 1, 2, 3].map(() => randomTensor([1, 2, 45, 8], rng));
  const out = await m.forward(q, k, v, { causal: true });
  const args = { q, k, v, layout: m.layoutFor(45), causal: true };
  assertClose(out.data, referenceAttention(args), { ...CPU_TOL, label: 'out' });
  const g = await m.backward(q, k, v, dout, { causal: true });
  assertClose(g.dk.data, referenceAttentionBackward({ ...args, dout }).dk, { ...CPU_TOL, label: 'dk' });
});

test('without an engine, the shared CPU engine', async () => {
  const rng = mulberry32(3);
  const m = new SparseSelfAttention({ sparsityConfig: new FixedSparsityConfig({ numHeads: 1 }), maxSeqLength: 64 });
  const q = randomTensor([1, 1, 32, 8], rng);
  const out = await m.forward(q, q, q);
  assertClose(out.data, referenceAttention({ q, k: q, v: q, layout: m.layoutFor(32) }), { ...CPU_TOL, label: 'out' });
});

test('errors name the argument', async () => {
  const config = new FixedSparsityConfig({ numHeads: 1 });
  assert.throws(() => new SparseSelfAttention({} as never), (e: Error) => e instanceof TypeError && /sparsityConfig must be a SparsityConfig/.test(e.message));
  assert.throws(() => new SparseSelfAttention({ sparsityConfig: config, max_seq_length: 64 } as never), (e: Error) => e instanceof TypeError && /unknown option max_seq_length/.test(e.message));
  assert.throws(() => new SparseSelfAttention({ sparsityConfig: config, attnMaskMode: 'xor' as never }), (e: Error) => e instanceof RangeError && /attnMaskMode must be 'add' or 'mul'/.test(e.message));
  assert.throws(() => new SparseSelfAttention({ sparsityConfig: config, maxSeqLength: 0 }), (e: Error) => e instanceof RangeError && /maxSeqLength must be a positive integer/.test(e.message));
  assert.throws(() => new SparseSelfAttention({ sparsityConfig: config, engine: {} as never }), (e: Error) => e instanceof TypeError && /engine must be an Engine/.test(e.message));
  const m = new SparseSelfAttention({ sparsityConfig: config, maxSeqLength: 64, engine });
  const q = randomTensor([1, 1, 80, 8], mulberry32(1));
  try {
    await m.forward(q, q, q);
    assert.unreachable('a length past maxSeqLength');
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match((e as Error).message, /query\.shape\[2\] \(80\) must be at most maxSeqLength \(64\)/);
  }
  // self-attention only, as DeepSpeed's module: keys of another length are refused (they ran as cross-attention)
  for (const n of [16, 4]) {
    try {
      await m.forward(randomTensor([1, 1, 8, 8], mulberry32(2)), randomTensor([1, 1, n, 8], mulberry32(3)), randomTensor([1, 1, n, 8], mulberry32(4)));
      assert.unreachable(`keys of length ${n} for 8 queries`);
    } catch (e) {
      assert.instance(e, RangeError);
      assert.match((e as Error).message, new RegExp(`^key\\.shape\\[2\\] \\(N: SparseSelfAttention is self-attention\\) must equal 8, got ${n}$`));
    }
  }
  assert.throws(() => m.layoutFor(65), (e: Error) => e instanceof RangeError && /seqLen \(65\) must be at most maxSeqLength \(64\)/.test(e.message));
});

test.run();
