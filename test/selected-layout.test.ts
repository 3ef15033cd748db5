// A selection held as its active rows (src/layouts/selected-layout.ts) against the plain layout of
// the same bytes: `data` is built at the first read, once, and equals the rows placed in zeros;
// JSON, structuredClone and spreading give those bytes; checkLayout, fitLayout (crops, heads
// repeated), the attention parts' slices and compileLayout take the rows and never read `data`, and
// give what they give for the plain copy. Random layouts of random rows, runs anywhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { compileLayout } from '../src/layouts/compile.js';
import { fitLayout } from '../src/layouts/fit.js';
import { SelectedRows, selectedLayout, selectedRows } from '../src/layouts/selected-layout.js';
import type { BatchedLayout } from '../src/types.js';
import { checkLayout } from '../src/validate.js';
import { assertSameTables } from './helpers/compiled.js';

interface Case {
  rows: SelectedRows;
  /** The same bytes, built here: the runs' rows placed in zeros. */
  dense: Uint8Array;
}

const arbCase: fc.Arbitrary<Case> = fc
  .record({ B: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 3 }), R: fc.integer({ min: 1, max: 6 }), C: fc.integer({ min: 1, max: 9 }) })
  .chain(({ B, H, R, C }) =>
    fc.record({
      shape: fc.constant([B, H, R, C] as const),
      // which rows are held (a run is a maximal stretch of held rows) and their bytes
      held: fc.array(fc.boolean(), { minLength: B * H * R, maxLength: B * H * R }),
      bytes: fc.uint8Array({ minLength: B * H * R * C, maxLength: B * H * R * C, max: 3 }).map((b) => b.map((x) => (x === 3 ? 1 : 0))),
    }),
  )
  .map(({ shape, held, bytes }) => {
    const C = shape[3];
    const runs: Array<[number, number]> = [];
    held.forEach((h, t) => {
      if (!h) return;
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[1] = t + 1;
      else runs.push([t, t + 1]);
    });
    const dense = new Uint8Array(bytes.length);
    const parts: Uint8Array[] = [];
    for (const [t0, t1] of runs) {
      dense.set(bytes.subarray(t0 * C, t1 * C), t0 * C);
      parts.push(bytes.slice(t0 * C, t1 * C));
    }
    const packed = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (packed.set(p, at), at + p.length), 0);
    return { rows: new SelectedRows(4, shape, runs, packed), dense };
  });

/** A selected layout whose `data` throws: whatever reads it fails. */
function unreadable(rows: SelectedRows): BatchedLayout {
  const layout = selectedLayout(rows);
  Object.defineProperty(layout, 'data', { get: () => assert.unreachable('data was read'), enumerable: true, configurable: true });
  return layout;
}

test('data: the runs\' rows in zeros, built once at the first read; JSON, structuredClone and spread give the bytes', () => {
  fc.assert(
    fc.property(arbCase, ({ rows, dense }) => {
      let built = 0;
      const toDense = rows.toDense.bind(rows);
      rows.toDense = () => (built++, toDense());
      const layout = selectedLayout(rows);
      const plain = { block: 4, shape: [...rows.shape], data: dense };
      assert.is(built, 0, 'nothing built before a read');
      assert.equal(Object.keys(layout), ['block', 'shape', 'data']);
      assert.ok(layout.data instanceof Uint8Array);
      assert.equal(Array.from(layout.data), Array.from(dense));
      assert.is(layout.data, layout.data, 'kept');
      assert.is(built, 1, 'built once');
      assert.is(JSON.stringify(selectedLayout(rows)), JSON.stringify(plain));
      const clone = structuredClone(selectedLayout(rows));
      assert.ok(clone.data instanceof Uint8Array);
      assert.equal(Array.from(clone.data), Array.from(dense));
      assert.equal(Array.from({ ...selectedLayout(rows) }.data), Array.from(dense));
    }),
    { numRuns: 200, seed: 31 },
  );
});

test('checkLayout, compileLayout, fitLayout and slices take the rows, never data, and match the plain copy', () => {
  fc.assert(
    fc.property(
      arbCase.chain((c) => {
        const [, H, R, C] = c.rows.shape;
        return fc.record({
          c: fc.constant(c),
          // fitLayout: heads repeated (H a multiple of the layout's), rows and columns cropped
          times: fc.integer({ min: 1, max: 2 }), R: fc.integer({ min: 1, max: R }), C: fc.integer({ min: 1, max: C }),
          // a slice of whole heads: rows [bh0·R, bh1·R)
          bh: fc.tuple(fc.integer({ min: 0, max: c.rows.shape[0] * H - 1 }), fc.integer({ min: 1, max: c.rows.shape[0] * H })),
        });
      }),
      ({ c: { rows, dense }, times, R, C, bh: [a, b] }) => {
        const [Bl, Hl, Rl, Cl] = rows.shape;
        const plain: BatchedLayout = { block: 4, shape: [Bl, Hl, Rl, Cl], data: dense };
        const label = JSON.stringify({ shape: rows.shape, runs: rows.runs, times, R, C });
        checkLayout('layout', unreadable(rows), true);
        assertSameTables(compileLayout(unreadable(rows)), compileLayout({ ...plain, data: dense.slice() }), `${label}: compiled`);
        const fitted = fitLayout(unreadable(rows), Hl * times, R, C);
        const want = fitLayout({ ...plain, data: dense.slice() }, Hl * times, R, C);
        assert.equal(fitted.shape, want.shape, `${label}: fitted shape`);
        const held = selectedRows(fitted);
        assert.ok(held, `${label}: the fitted layout is held as rows`);
        assertSameTables(compileLayout(fitted), compileLayout(want), `${label}: fitted, compiled`);
        assert.equal(Array.from(held!.toDense()), Array.from(want.data), `${label}: fitted bytes`);
        const [bh0, bh1] = [Math.min(a, b - 1), Math.max(a + 1, b)];
        const sliced = rows.slice(bh0 * Rl, bh1 * Rl, [1, bh1 - bh0, Rl, Cl]);
        assert.equal(Array.from(sliced.toDense()), Array.from(dense.subarray(bh0 * Rl * Cl, bh1 * Rl * Cl)), `${label}: slice ${bh0} … ${bh1}`);
      },
    ),
    { numRuns: 300, seed: 37 },
  );
});

test('a layout whose data is assigned, or whose shape changes, is read as its bytes', () => {
  const rows = new SelectedRows(4, [1, 1, 2, 2], [[1, 2]], Uint8Array.of(1, 1));
  const layout = selectedLayout(rows);
  assert.is(compileLayout(layout).nnz, 2);
  layout.data = Uint8Array.of(1, 0, 0, 0);
  assert.is(selectedRows(layout), undefined);
  assert.is(compileLayout(layout).nnz, 1);
  const reshaped = selectedLayout(rows) as unknown as { shape: number[] };
  reshaped.shape = [1, 2, 2];
  assert.is(selectedRows(reshaped), undefined);
  assert.throws(() => checkLayout('layout', { ...reshaped, shape: [1, 1, 4, 2] }, true), /layout/);
});

test.run();
