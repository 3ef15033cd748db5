// Layouts: DeepSpeed's configs against golden layouts made by DeepSpeed's own Python
// (test/fixtures/make-layout-fixtures.py), then properties, the extra builders and the drawings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import type { Layout } from '../src/types.js';
import {
  BigBirdSparsityConfig, BSLongformerSparsityConfig, DenseSparsityConfig, FixedSparsityConfig,
  LocalSlidingWindowSparsityConfig, SparsityConfig, StridedSparsityConfig, VariableSparsityConfig,
  describeLayout, layoutFromMask, layoutToString, layoutToSVG,
} from '../src/layouts/index.js';

// --- the golden fixtures ------------------------------------------------------------------------

interface FixtureCase {
  name: string;
  config: string;
  kwargs: Record<string, unknown>;
  seed: number;
  seqLen: number;
  shape?: [number, number, number];
  layout?: string;
  error?: { type: string; message: string };
  arg?: string;
  ours?: 'reject';
  note?: string;
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/deepspeed-layouts.json', import.meta.url), 'utf8')) as {
  cases: FixtureCase[];
};

const CLASSES: Record<string, new (options: never) => SparsityConfig> = {
  DenseSparsityConfig, FixedSparsityConfig, VariableSparsityConfig, BigBirdSparsityConfig,
  BSLongformerSparsityConfig, LocalSlidingWindowSparsityConfig,
};
const SEEDED = new Set(['VariableSparsityConfig', 'BigBirdSparsityConfig']);

const camel = (key: string) => key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

function build(c: FixtureCase): Layout {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.kwargs)) options[camel(k)] = v;
  if (SEEDED.has(c.config)) options.seed = c.seed;
  const Config = CLASSES[c.config];
  return new Config(options as never).makeLayout(c.seqLen);
}

function decode(hex: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (parseInt(hex[i >> 2], 16) >> (3 - (i & 3))) & 1;
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array, [, R, C]: number[]): string {
  const i = a.findIndex((x, j) => x !== b[j]);
  return `first difference at head ${Math.floor(i / (R * C))}, row ${Math.floor(i / C) % R}, col ${i % C}`;
}

const expectedError: Record<string, new (...args: never[]) => Error> = {
  ValueError: RangeError, IndexError: RangeError, ZeroDivisionError: RangeError, UnboundLocalError: RangeError,
  NotImplementedError: Error,
};

test('the fixtures cover every config, both directions, random seeds and rejections', () => {
  const configs = new Set(fixtures.cases.map((c) => c.config));
  assert.equal(configs.size, 6);
  assert.ok(fixtures.cases.filter((c) => c.error).length >= 20);
  assert.ok(fixtures.cases.some((c) => c.kwargs.attention === 'unidirectional'));
  assert.ok(new Set(fixtures.cases.filter((c) => c.config === 'BigBirdSparsityConfig').map((c) => c.seed)).size >= 2);
});

for (const c of fixtures.cases) {
  if (c.layout !== undefined) {
    test(`DeepSpeed fixture: ${c.name}`, () => {
      if (c.ours === 'reject') {
        assert.throws(() => build(c), (e: unknown) => e instanceof Error && e.message.includes(c.arg!), c.note);
        return;
      }
      const layout = build(c);
      assert.equal(layout.shape, c.shape);
      assert.is(layout.block, (c.kwargs.block as number | undefined) ?? 16);
      const want = decode(c.layout!, c.shape![0] * c.shape![1] * c.shape![2]);
      assert.ok(layout.data.length === want.length && layout.data.every((x, i) => x === want[i]), firstDifference(layout.data, want, c.shape!));
      // rows DeepSpeed leaves empty are exactly ours (so every row it keeps something in, we do too)
      assert.is(describeLayout(layout).emptyRows, describeLayout({ block: 16, shape: c.shape!, data: want }).emptyRows);
    });
  } else {
    test(`DeepSpeed rejects: ${c.name} (${c.error!.type})`, () => {
      const Expected = expectedError[c.error!.type];
      assert.ok(Expected, `no mapping for ${c.error!.type}`);
      assert.throws(
        () => build(c),
        (e: unknown) => e instanceof Expected && e.message.includes(c.arg!),
        `expected a ${Expected.name} naming ${c.arg} (DeepSpeed: ${c.error!.message})`,
      );
    });
  }
}

// --- properties -----------------------------------------------------------------------------------

const cell = (l: Layout, h: number, r: number, c: number) => l.data[(h * l.shape[1] + r) * l.shape[2] + c];

function isLowerTriangular(l: Layout): boolean {
  const [H, R, C] = l.shape;
  for (let h = 0; h < H; h++) for (let r = 0; r < R; r++) for (let c = r + 1; c < C; c++) if (cell(l, h, r, c)) return false;
  return true;
}

function headsIdentical(l: Layout): boolean {
  const size = l.shape[1] * l.shape[2];
  for (let h = 1; h < l.shape[0]; h++) {
    for (let i = 0; i < size; i++) if (l.data[h * size + i] !== l.data[i]) return false;
  }
  return true;
}

const arbHeads = fc.integer({ min: 1, max: 4 });
const arbNb = fc.integer({ min: 1, max: 24 });
const arbSeed = fc.integer({ min: 0, max: 2 ** 31 });

/** Configs whose unidirectional layouts DeepSpeed keeps block-lower-triangular. */
const arbCausalConfig = fc.oneof(
  fc.record({ kind: fc.constant('fixed'), numHeads: arbHeads, nb: arbNb, numLocalBlocks: fc.integer({ min: 1, max: 8 }), per: fc.boolean() })
    .map(({ numHeads, nb, numLocalBlocks, per }) => ({
      nb, config: new FixedSparsityConfig({ numHeads, block: 16, numLocalBlocks, attention: 'unidirectional', differentLayoutPerHead: per, numDifferentGlobalPatterns: per ? Math.min(numLocalBlocks, numHeads) : 1 }),
    })),
  fc.record({ numHeads: arbHeads, nb: arbNb, sw: fc.integer({ min: 0, max: 6 }), g: fc.integer({ min: 0, max: 3 }), r: fc.integer({ min: 0, max: 1 }), seed: arbSeed, per: fc.boolean() })
    .map(({ numHeads, nb, sw, g, r, seed, per }) => ({
      nb: Math.max(nb, sw, g), config: new BigBirdSparsityConfig({ numHeads, numSlidingWindowBlocks: sw, numGlobalBlocks: g, numRandomBlocks: r, seed, differentLayoutPerHead: per, attention: 'unidirectional' }),
    })),
  fc.record({ numHeads: arbHeads, nb: arbNb, sw: fc.integer({ min: 0, max: 6 }), globals: fc.array(fc.integer({ min: -4, max: 30 }), { maxLength: 3 }) })
    .map(({ numHeads, nb, sw, globals }) => ({
      nb: Math.max(nb, sw, 4), config: new BSLongformerSparsityConfig({ numHeads, numSlidingWindowBlocks: sw, globalBlockIndices: globals, attention: 'unidirectional' }),
    })),
  fc.record({ numHeads: arbHeads, nb: arbNb, sw: fc.integer({ min: 0, max: 6 }) })
    .map(({ numHeads, nb, sw }) => ({ nb: Math.max(nb, sw), config: new LocalSlidingWindowSparsityConfig({ numHeads, numSlidingWindowBlocks: sw }) })),
  fc.record({ numHeads: arbHeads, nb: arbNb, windows: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), globals: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 3 }) })
    .map(({ numHeads, nb, windows, globals }) => ({ nb, config: new VariableSparsityConfig({ numHeads, localWindowBlocks: windows, globalBlockIndices: globals, attention: 'unidirectional' }) })),
  fc.record({ numHeads: arbHeads, nb: arbNb, w: fc.integer({ min: 1, max: 6 }), s: fc.integer({ min: 1, max: 6 }), per: fc.boolean() })
    .map(({ numHeads, nb, w, s, per }) => ({ nb, config: new StridedSparsityConfig({ numHeads, localWindowBlocks: w, stride: s, differentLayoutPerHead: per }) })),
);

test('property: unidirectional ⇒ block-lower-triangular, with the diagonal kept', () => {
  fc.assert(
    fc.property(arbCausalConfig, ({ nb, config }) => {
      const layout = config.makeLayout(nb * config.block);
      if (!isLowerTriangular(layout)) return false;
      // every config here keeps each row's own block (a window of 0 or 1 still keeps the diagonal)
      for (let h = 0; h < layout.shape[0]; h++) for (let r = 0; r < nb; r++) if (!cell(layout, h, r, r)) return false;
      return true;
    }),
    { numRuns: 300 },
  );
});

test('property: heads are identical unless differentLayoutPerHead', () => {
  const arb = fc.record({
    numHeads: fc.integer({ min: 2, max: 4 }), nb: fc.integer({ min: 4, max: 20 }), seed: arbSeed,
    bi: fc.boolean(), which: fc.integer({ min: 0, max: 5 }),
  });
  fc.assert(
    fc.property(arb, ({ numHeads, nb, seed, bi, which }) => {
      const attention = bi ? 'bidirectional' : 'unidirectional';
      const configs: SparsityConfig[] = [
        new DenseSparsityConfig({ numHeads }),
        new FixedSparsityConfig({ numHeads, attention }),
        new VariableSparsityConfig({ numHeads, numRandomBlocks: 2, seed, attention }),
        new BigBirdSparsityConfig({ numHeads, numRandomBlocks: bi ? 2 : 1, seed, attention }),
        new BSLongformerSparsityConfig({ numHeads, attention }),
        new LocalSlidingWindowSparsityConfig({ numHeads, attention }),
      ];
      return headsIdentical(configs[which].makeLayout(nb * 16));
    }),
    { numRuns: 200 },
  );
  // and with differentLayoutPerHead, random heads do differ
  const per = new BigBirdSparsityConfig({ numHeads: 4, numRandomBlocks: 2, differentLayoutPerHead: true }).makeLayout(32 * 16);
  assert.not.ok(headsIdentical(per));
});

test('DeepSpeed quirks that break causality are reproduced, not fixed', () => {
  // Variable draws random blocks from the whole row even when unidirectional (no tril)
  const variable = new VariableSparsityConfig({ numHeads: 1, numRandomBlocks: 2, attention: 'unidirectional' }).makeLayout(24 * 16);
  assert.not.ok(isLowerTriangular(variable));
  // Fixed's unidirectional global blocks start at their own row: numGlobalBlocks 2 reaches one block above the diagonal
  const fixed = new FixedSparsityConfig({ numHeads: 1, numGlobalBlocks: 2, attention: 'unidirectional' }).makeLayout(16 * 16);
  assert.is(cell(fixed, 0, 2, 3), 1);
  // Variable global ranges do the same
  const ranges = new VariableSparsityConfig({ numHeads: 1, globalBlockIndices: [4], globalBlockEndIndices: [6], attention: 'unidirectional' }).makeLayout(8 * 16);
  assert.is(cell(ranges, 0, 4, 5), 1);
});

test('known densities', () => {
  assert.is(describeLayout(new DenseSparsityConfig({ numHeads: 3 }).makeLayout(256)).density, 1);
  // Fixed defaults, 16 blocks: four 4×4 windows (64) + four full global columns (64) - their 16 cells inside windows
  assert.is(describeLayout(new FixedSparsityConfig({ numHeads: 1 }).makeLayout(256)).nnz, 112);
  // a causal window of 3 (w = 1): two blocks per row but the first
  const nb = 20;
  const sliding = describeLayout(new LocalSlidingWindowSparsityConfig({ numHeads: 2 }).makeLayout(nb * 16));
  assert.is(sliding.nnz, 2 * (2 * nb - 1));
  assert.equal(sliding.keptPerHead, [2 * nb - 1, 2 * nb - 1]);
  // BSLongformer defaults: band of 3 plus row 0 and column 0
  assert.is(describeLayout(new BSLongformerSparsityConfig({ numHeads: 1 }).makeLayout(nb * 16)).nnz, 3 * nb - 2 + 2 * (nb - 2));
});

test('every default config keeps at least one block in every row', () => {
  for (const Config of Object.values(CLASSES)) {
    const d = describeLayout(new Config({ numHeads: 2 } as never).makeLayout(64 * 16));
    assert.is(d.emptyRows, 0, Config.name);
  }
});

test('seeds reproduce; different seeds differ; the default seed is 0', () => {
  const make = (seed?: number) => new BigBirdSparsityConfig({ numHeads: 2, numRandomBlocks: 2, differentLayoutPerHead: true, seed }).makeLayout(48 * 16).data;
  const config = new BigBirdSparsityConfig({ numHeads: 1, numRandomBlocks: 2, seed: 5 });
  assert.equal(config.makeLayout(512).data, config.makeLayout(512).data); // one fresh generator per call
  assert.equal(make(7), make(7));
  assert.not.equal(make(7), make(8));
  assert.equal(make(), make(0));
  const v = (seed: number) => new VariableSparsityConfig({ numHeads: 1, numRandomBlocks: 3, seed }).makeLayout(32 * 16).data;
  assert.not.equal(v(1), v(2));
  assert.equal(v(-3), v(3)); // as random.seed: the absolute value
  assert.equal(new VariableSparsityConfig({ numHeads: 1, numRandomBlocks: 3, seed: 3n }).makeLayout(512).data, v(3));
});

// --- beyond DeepSpeed -----------------------------------------------------------------------------

test('StridedSparsityConfig: local window plus every stride-th block, causal by default', () => {
  fc.assert(
    fc.property(
      fc.record({ nb: fc.integer({ min: 1, max: 30 }), w: fc.integer({ min: 1, max: 8 }), s: fc.integer({ min: 1, max: 8 }), bi: fc.boolean() }),
      ({ nb, w, s, bi }) => {
        const l = new StridedSparsityConfig({ numHeads: 2, localWindowBlocks: w, stride: s, attention: bi ? 'bidirectional' : 'unidirectional' }).makeLayout(nb * 16);
        for (let r = 0; r < nb; r++) {
          for (let c = 0; c < nb; c++) {
            const d = bi ? Math.abs(r - c) : r - c;
            const want = d >= 0 && (d < w || d % s === 0) ? 1 : 0;
            if (cell(l, 0, r, c) !== want || cell(l, 1, r, c) !== want) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
  const defaults = new StridedSparsityConfig({ numHeads: 1 });
  assert.is(defaults.localWindowBlocks, 4);
  assert.is(defaults.stride, 4);
  assert.is(defaults.attention, 'unidirectional');
  assert.is(defaults.block, 16);
  assert.is(
    layoutToString(defaults.makeLayout(9 * 16)),
    ['█········', '██·······', '███······', '████·····', '█████····', '·█████···', '··█████··', '···█████·', '█···█████'].join('\n'),
  );
  // differentLayoutPerHead splits the factorization: even heads local, odd heads strided
  const split = new StridedSparsityConfig({ numHeads: 2, localWindowBlocks: 2, stride: 3, differentLayoutPerHead: true }).makeLayout(7 * 16);
  assert.is(layoutToString(split, 0), ['█······', '██·····', '·██····', '··██···', '···██··', '····██·', '·····██'].join('\n'));
  assert.is(layoutToString(split, 1), ['█······', '·█·····', '··█····', '█··█···', '·█··█··', '··█··█·', '█··█··█'].join('\n'));
});

test('layoutFromMask builds what the predicate says, heads then rows then columns', () => {
  const calls: string[] = [];
  const l = layoutFromMask(2, 3, (h, r, c) => {
    calls.push(`${h}${r}${c}`);
    return h === 0 ? c <= r : r === c;
  }, 32);
  assert.is(l.block, 32);
  assert.equal(l.shape, [2, 3, 3]);
  assert.equal([...l.data], [1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.is(calls.length, 18);
  assert.is(calls[0], '000');
  assert.is(calls[17], '122');
  assert.is(layoutFromMask(1, 2, () => true).block, 16);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 16 }), (H, nb) => isLowerTriangular(layoutFromMask(H, nb, (_, r, c) => c <= r))),
  );
});

test('layoutFromMask takes [rows, cols] for a rectangular layout; the number form is the square one', () => {
  const calls: string[] = [];
  const l = layoutFromMask(2, [2, 3], (h, r, c) => {
    calls.push(`${h}${r}${c}`);
    return h === 0 ? c >= r + 1 : r === 1;
  }, 8);
  assert.is(l.block, 8);
  assert.equal(l.shape, [2, 2, 3]);
  assert.equal([...l.data], [0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1]);
  assert.equal(calls, ['000', '001', '002', '010', '011', '012', '100', '101', '102', '110', '111', '112']);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), (H, R, C) => {
      const keep = (h: number, r: number, c: number) => (h * 7 + r * 3 + c) % 4 === 0;
      const rect = layoutFromMask(H, [R, C], keep, 32);
      const square = layoutFromMask(H, Math.max(R, C), keep, 32);
      const [, n] = square.shape;
      // the rectangle is the top-left crop of the square built from the same predicate
      return rect.shape[1] === R && rect.shape[2] === C &&
        rect.data.every((x, i) => x === square.data[(Math.floor(i / (R * C)) * n + Math.floor(i / C) % R) * n + (i % C)]);
    }),
  );
  const same = layoutFromMask(3, [5, 5], (h, r, c) => (h + r * c) % 3 === 0);
  assert.equal(same, layoutFromMask(3, 5, (h, r, c) => (h + r * c) % 3 === 0));
  assert.throws(() => layoutFromMask(1, [4] as never, () => true), isErr(TypeError, 'numBlocks', '[rows, cols]', 'length 1'));
  assert.throws(() => layoutFromMask(1, [4, 0], () => true), isErr(RangeError, 'numBlocks[1]', '0'));
  assert.throws(() => layoutFromMask(1, [2.5, 4], () => true), isErr(TypeError, 'numBlocks[0]', '2.5'));
  assert.throws(() => layoutFromMask(1, '4' as never, () => true), isErr(TypeError, 'numBlocks', "'4'"));
});

// --- describing and drawing --------------------------------------------------------------------------

test('describeLayout and layoutToString', () => {
  const l = layoutFromMask(2, 4, (h, r, c) => h === 0 && c <= r && r < 3, 8);
  assert.equal(describeLayout(l), {
    block: 8, heads: 2, blockRows: 4, blockCols: 4, seqLen: 32, nnz: 6, density: 6 / 32, keptPerHead: [6, 0], emptyRows: 5,
  });
  assert.is(layoutToString(l), '█···\n██··\n███·\n····');
  assert.is(layoutToString(l, 1), '····\n····\n····\n····');
  assert.throws(() => layoutToString(l, 2), RangeError);
  assert.throws(() => layoutToString(l, 0.5), TypeError);
  assert.throws(() => describeLayout({ block: 16, shape: [1, 2, 2], data: new Uint8Array(3) }), (e: unknown) => e instanceof RangeError && /layout\.data\.length/.test(String(e)));
  // one checkLayout (src/validate.ts): an array of the wrong length is a RangeError, a non-array a TypeError
  assert.throws(() => describeLayout({ block: 16, shape: [1, 2], data: new Uint8Array(4) } as never), (e: unknown) => e instanceof RangeError && /layout\.shape must be \[H, R, C\], got \[1, 2\]/.test(String(e)));
  assert.throws(() => describeLayout({ block: 16, shape: 'x', data: new Uint8Array(4) } as never), (e: unknown) => e instanceof TypeError && /layout\.shape/.test(String(e)));
});

/** Tags balance and attributes are quoted: enough to know a browser will open it. */
function assertWellFormedSVG(svg: string): void {
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z:-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) assert.is(stack.pop(), name);
    else if (!selfClose) stack.push(name);
  }
  assert.equal(stack, []);
  // nothing that looks like a tag was skipped by the pattern above
  const tags = svg.match(/</g)!.length;
  const matched = [...svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z:-]+="[^"<>]*")*)\s*(\/?)>/g)].length;
  assert.is(matched, tags);
}

test('layoutToSVG: a grid per head, kept blocks as merged rects, a title', () => {
  const config = new BigBirdSparsityConfig({ numHeads: 4, differentLayoutPerHead: true, numRandomBlocks: 2 });
  const layout = config.makeLayout(32 * 16);
  const svg = layoutToSVG(layout, { title: `${config} <&>` });
  assertWellFormedSVG(svg);
  assert.ok(svg.includes('BigBirdSparsityConfig({ numHeads: 4'));
  assert.ok(svg.includes('&lt;&amp;&gt;'));
  assert.is(svg.match(/head \d · \d+ kept/g)!.length, 4);
  assert.ok((svg.match(/<rect /g) ?? []).length > 4);
  // default title states the density
  assert.ok(layoutToSVG(layout, { heads: [1] }).includes('density'));
  // a dense head is a single rect; a big banded layout stays small
  const dense = layoutToSVG(new DenseSparsityConfig({ numHeads: 1 }).makeLayout(256 * 16));
  assert.is((dense.match(/fill="#2563eb"/g) ?? []).length, 1);
  assertWellFormedSVG(dense);
  const big = layoutToSVG(new BSLongformerSparsityConfig({ numHeads: 1 }).makeLayout(256 * 16));
  assert.ok(big.length < 100_000, `${big.length} chars`);
  const width = Number(/width="(\d+)"/.exec(big)![1]);
  assert.ok(width <= 1100, `256×256 drawn ${width} px wide`);
  assert.ok(Number(/width="(\d+)"/.exec(layoutToSVG(layout, { cellSize: 1000 }))![1]) <= 1200 * 2, 'cellSize is capped');
  assert.throws(() => layoutToSVG(layout, { heads: [4] }), RangeError);
  assert.throws(() => layoutToSVG(layout, { heads: [] }), TypeError);
  assert.throws(() => layoutToSVG(layout, { cellSize: 0 }), RangeError);
});

test('wrapping: many heads go on several rows', () => {
  const svg = layoutToSVG(new FixedSparsityConfig({ numHeads: 16 }).makeLayout(64 * 16));
  const ys = new Set([...svg.matchAll(/translate\(\d+ (\d+)\)/g)].map((m) => m[1]));
  assert.ok(ys.size > 1);
});

// --- argument checks ------------------------------------------------------------------------------

const isErr = (Type: new (...a: never[]) => Error, ...words: string[]) => (e: unknown) =>
  e instanceof Type && words.every((w) => (e as Error).message.includes(w));

test('bad arguments give typed errors naming the argument', () => {
  assert.throws(() => new FixedSparsityConfig({ numHeads: 0 }), isErr(RangeError, 'numHeads', '0'));
  assert.throws(() => new FixedSparsityConfig({ numHeads: 2.5 }), isErr(TypeError, 'numHeads', '2.5'));
  assert.throws(() => new FixedSparsityConfig({} as never), isErr(TypeError, 'numHeads', 'undefined'));
  assert.throws(() => new DenseSparsityConfig({ numHeads: 1, block: '16' as never }), isErr(TypeError, 'block', "'16'"));
  assert.throws(() => new DenseSparsityConfig({ numHeads: 1, block: -16 }), isErr(RangeError, 'block'));
  assert.throws(() => new DenseSparsityConfig(undefined as never), isErr(TypeError, 'options'));
  assert.throws(() => new DenseSparsityConfig(4 as never), isErr(TypeError, 'options'));
  assert.throws(() => new FixedSparsityConfig({ num_heads: 4 } as never), isErr(TypeError, 'num_heads', 'did you mean numHeads?'));
  assert.throws(() => new DenseSparsityConfig({ numHeads: 1, seed: 1 } as never), isErr(TypeError, 'seed'));
  assert.throws(() => new FixedSparsityConfig({ numHeads: 1, attention: 'causal' as never }), isErr(Error, 'attention', "'causal'"));
  assert.throws(() => new FixedSparsityConfig({ numHeads: 1, attention: 1 as never }), isErr(TypeError, 'attention'));
  assert.throws(() => new FixedSparsityConfig({ numHeads: 1, horizontalGlobalAttention: 1 as never }), isErr(TypeError, 'horizontalGlobalAttention'));
  assert.throws(() => new FixedSparsityConfig({ numHeads: 1, numLocalBlocks: 5, numGlobalBlocks: 2 }), isErr(RangeError, 'numLocalBlocks (5) must be divisible by numGlobalBlocks (2)'));
  assert.throws(() => new VariableSparsityConfig({ numHeads: 1, seed: 0.5 }), isErr(TypeError, 'seed', '0.5'));
  assert.throws(() => new VariableSparsityConfig({ numHeads: 1, globalBlockIndices: 'x' as never }), isErr(TypeError, 'globalBlockIndices'));
  assert.throws(() => new VariableSparsityConfig({ numHeads: 1, globalBlockIndices: [0, 1.5] }), isErr(TypeError, 'globalBlockIndices[1]'));
  assert.throws(() => new BigBirdSparsityConfig({ numHeads: 1, numRandomBlocks: -1 }), isErr(RangeError, 'numRandomBlocks'));
  assert.throws(() => new StridedSparsityConfig({ numHeads: 1, stride: 0 }), isErr(RangeError, 'stride'));
  assert.throws(() => new StridedSparsityConfig({ numHeads: 1, localWindowBlocks: NaN }), isErr(TypeError, 'localWindowBlocks'));
  const config = new DenseSparsityConfig({ numHeads: 1 });
  assert.throws(() => config.makeLayout(-16), isErr(RangeError, 'seqLen', '-16'));
  assert.throws(() => config.makeLayout(16.5), isErr(TypeError, 'seqLen', '16.5'));
  assert.throws(() => config.makeLayout('256' as never), isErr(TypeError, 'seqLen'));
  assert.throws(() => config.makeLayout(100), isErr(RangeError, 'seqLen (100) must be divisible by block (16)'));
  assert.throws(() => layoutFromMask(0, 4, () => true), isErr(RangeError, 'numHeads'));
  assert.throws(() => layoutFromMask(1, 4.5, () => true), isErr(TypeError, 'numBlocks'));
  assert.throws(() => layoutFromMask(1, 4, 'yes' as never), isErr(TypeError, 'keep'));
  assert.throws(() => layoutFromMask(1, 4, () => true, 0), isErr(RangeError, 'block'));
});

test('configs expose their resolved options', () => {
  const f = new FixedSparsityConfig({ numHeads: 4 });
  assert.equal(
    [f.numHeads, f.block, f.differentLayoutPerHead, f.numLocalBlocks, f.numGlobalBlocks, f.attention, f.horizontalGlobalAttention, f.numDifferentGlobalPatterns],
    [4, 16, false, 4, 1, 'bidirectional', false, 1],
  );
  const v = new VariableSparsityConfig({ numHeads: 2 });
  assert.equal([v.numRandomBlocks, v.localWindowBlocks, v.globalBlockIndices, v.globalBlockEndIndices, v.seed], [0, [4], [0], null, 0]);
  const b = new BigBirdSparsityConfig({ numHeads: 2 });
  assert.equal([b.numRandomBlocks, b.numSlidingWindowBlocks, b.numGlobalBlocks, b.attention, b.seed], [1, 3, 1, 'bidirectional', 0]);
  const s = new LocalSlidingWindowSparsityConfig({ numHeads: 2 });
  assert.equal([s.numSlidingWindowBlocks, s.attention, s.differentLayoutPerHead], [3, 'unidirectional', false]);
  assert.is(String(new DenseSparsityConfig({ numHeads: 2 })), 'DenseSparsityConfig({ numHeads: 2, block: 16, differentLayoutPerHead: false })');
  assert.equal(JSON.parse(JSON.stringify(b)).kind, 'BigBirdSparsityConfig');
});

test.run();
