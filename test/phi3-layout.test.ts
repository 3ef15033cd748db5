// Phi3SmallSparsityConfig against the layouts of the model's own `_get_sparse_attn_mask`
// (test/fixtures/make-phi3-layouts.py, a line-by-line numpy port; it also reruns on the torch
// original), bit for bit, with the model's CSR tables through layoutToCsr / layoutFromCsr; then
// its options, defaults and errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Phi3SmallSparsityConfig, layoutFromCsr, layoutToCsr } from '../src/layouts/index.js';

interface Phi3Case {
  args: Record<string, number | boolean>;
  options: { numHeads: number; block: number; numLocalBlocks: number; verticalStride: number; homoHead: boolean };
  seqLen: number;
  shape: [number, number, number];
  layout: string;
  rowIndices?: number[];
  colIndices?: number[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/phi3-layouts.json', import.meta.url), 'utf8')) as { cases: Phi3Case[] };

function decode(hex: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (parseInt(hex[i >> 2], 16) >> (3 - (i & 3))) & 1;
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array, [, R, C]: number[]): string {
  const i = a.findIndex((x, j) => x !== b[j]);
  return `first difference at head ${Math.floor(i / (R * C))}, row ${Math.floor(i / C) % R}, col ${i % C}`;
}

test('the fixture covers what it should', () => {
  const cases = fixture.cases;
  assert.ok(cases.length >= 8);
  assert.ok(cases.some((c) => c.options.homoHead) && cases.some((c) => !c.options.homoHead));
  assert.ok(cases.some((c) => c.seqLen % c.options.block !== 0), 'a length that is not a multiple of the block');
  assert.ok(cases.some((c) => c.options.numHeads === 32 && c.seqLen === 8192 && c.options.block === 64 &&
    c.options.numLocalBlocks === 16 && c.options.verticalStride === 8 && !c.options.homoHead), "the model's own configuration");
  assert.ok(new Set(cases.map((c) => c.options.verticalStride)).size >= 2);
  assert.ok(new Set(cases.map((c) => c.options.numLocalBlocks)).size >= 2);
});

for (const c of fixture.cases) {
  const name = `${c.options.numHeads} heads, seqLen ${c.seqLen}, block ${c.options.block}, local ${c.options.numLocalBlocks}, ` +
    `stride ${c.options.verticalStride}${c.options.homoHead ? ', homoHead' : ''}`;
  test(`Phi-3-small's _get_sparse_attn_mask, bit for bit: ${name}`, () => {
    const layout = new Phi3SmallSparsityConfig(c.options).makeLayout(c.seqLen);
    assert.equal(layout.shape, c.shape);
    assert.is(layout.block, c.options.block);
    const expected = decode(c.layout, layout.data.length);
    assert.ok(layout.data.every((x, i) => x === expected[i]), firstDifference(layout.data, expected, c.shape));
    if (c.rowIndices && c.colIndices) {
      // the model's CSR tables (what its kernels, and ORT's SparseAttention, are fed)
      const csr = layoutToCsr(layout);
      assert.equal([...csr.rowIndices], c.rowIndices);
      assert.equal([...csr.colIndices], c.colIndices);
      const back = layoutFromCsr({ rowIndices: Int32Array.from(c.rowIndices), colIndices: Int32Array.from(c.colIndices), numLayouts: c.shape[0], block: c.options.block });
      assert.equal(back, layout);
    }
  });
}

test('defaults are the Phi-3-small config; makeLayout takes any length', () => {
  const config = new Phi3SmallSparsityConfig({ numHeads: 32 });
  assert.equal(
    { block: config.block, numLocalBlocks: config.numLocalBlocks, verticalStride: config.verticalStride, homoHead: config.homoHead, headSlidingStep: config.headSlidingStep },
    { block: 64, numLocalBlocks: 16, verticalStride: 8, homoHead: false, headSlidingStep: 1 },
  );
  assert.is(config.kind, 'Phi3SmallSparsityConfig');
  assert.is(config.differentLayoutPerHead, true);
  assert.is(config.numLayoutHeads, 32);
  assert.is(new Phi3SmallSparsityConfig({ numHeads: 4 }).headSlidingStep, 2);
  assert.is(new Phi3SmallSparsityConfig({ numHeads: 4, homoHead: true }).headSlidingStep, 0);
  assert.is(new Phi3SmallSparsityConfig({ numHeads: 4, homoHead: true }).numLayoutHeads, 1);
  for (const n of [1, 63, 64, 65, 1000]) assert.equal(config.makeLayout(n).shape, [32, Math.ceil(n / 64), Math.ceil(n / 64)]);
  // a length's layout is the top-left crop of a longer one's (the layout over absolute positions)
  const long = config.makeLayout(4096);
  const short = config.makeLayout(1000);
  const [, R] = short.shape;
  const [, L] = long.shape;
  assert.ok(short.data.every((x, i) => x === long.data[(Math.floor(i / (R * R)) * L + Math.floor(i / R) % R) * L + (i % R)]));
  assert.is(String(new Phi3SmallSparsityConfig({ numHeads: 2 })),
    'Phi3SmallSparsityConfig({ numHeads: 2, block: 64, differentLayoutPerHead: true, numLocalBlocks: 16, verticalStride: 8, homoHead: false, headSlidingStep: 4 })');
});

test('headSlidingStep builds fewer heads of a larger pattern: 8 heads at step 1 are the period of 32', () => {
  const all = new Phi3SmallSparsityConfig({ numHeads: 32 }).makeLayout(2048);
  const period = new Phi3SmallSparsityConfig({ numHeads: 8, headSlidingStep: 1 }).makeLayout(2048);
  const size = period.shape[1] * period.shape[2];
  for (let h = 0; h < 32; h++) {
    assert.equal(all.data.subarray(h * size, (h + 1) * size), period.data.subarray((h % 8) * size, (h % 8 + 1) * size), `head ${h}`);
  }
});

const isErr = (Type: new (...a: never[]) => Error, ...words: string[]) => (e: unknown) =>
  e instanceof Type && words.every((w) => (e as Error).message.includes(w));

test('bad options give typed errors naming the argument', () => {
  const make = (o: Record<string, unknown>) => () => new Phi3SmallSparsityConfig(o as never);
  assert.throws(make({}), isErr(TypeError, 'numHeads', 'undefined'));
  assert.throws(make({ numHeads: 0 }), isErr(RangeError, 'numHeads'));
  assert.throws(make({ numHeads: 4, block: 0 }), isErr(RangeError, 'block'));
  assert.throws(make({ numHeads: 4, numLocalBlocks: -1 }), isErr(RangeError, 'numLocalBlocks', '-1'));
  assert.throws(make({ numHeads: 4, numLocalBlocks: 1.5 }), isErr(TypeError, 'numLocalBlocks'));
  assert.throws(make({ numHeads: 4, verticalStride: 0 }), isErr(RangeError, 'verticalStride', '0'));
  assert.throws(make({ numHeads: 4, homoHead: 'no' }), isErr(TypeError, 'homoHead', "'no'"));
  assert.throws(make({ numHeads: 4, headSlidingStep: -1 }), isErr(RangeError, 'headSlidingStep'));
  assert.throws(make({ numHeads: 4, homoHead: true, headSlidingStep: 2 }), isErr(RangeError, 'headSlidingStep must be 0', 'homoHead: true', '2'));
  assert.throws(make({ numHeads: 4, vert_stride: 8 }), isErr(TypeError, 'vert_stride'));
  assert.throws(make({ numHeads: 4, differentLayoutPerHead: true }), isErr(TypeError, 'differentLayoutPerHead', 'known options'));
  assert.throws(() => new Phi3SmallSparsityConfig(null as never), isErr(TypeError, 'options'));
  const config = new Phi3SmallSparsityConfig({ numHeads: 2 });
  assert.throws(() => config.makeLayout(0), isErr(RangeError, 'seqLen', '0'));
  assert.throws(() => config.makeLayout(10.5), isErr(TypeError, 'seqLen', '10.5'));
  assert.ok(new Phi3SmallSparsityConfig({ numHeads: 2, numLocalBlocks: 0 }).makeLayout(256).data.some((x) => x === 1));
});

test.run();
