// compileLayout's tables describe exactly the layout: rebuilding the dense layout from the row
// tables and from the transposed tables gives it back, entries follow (head, row, column) order,
// and causalKind classifies each block against the diagonal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { CausalKind, compileLayout } from '../src/layouts/compile.js';
import type { Layout } from '../src/types.js';

const arbLayout = fc
  .record({ H: fc.integer({ min: 1, max: 3 }), R: fc.integer({ min: 1, max: 9 }), C: fc.integer({ min: 1, max: 9 }) })
  .chain(({ H, R, C }) =>
    fc.uint8Array({ minLength: H * R * C, maxLength: H * R * C, max: 3 }).map(
      (bytes): Layout => ({ block: 16, shape: [H, R, C], data: bytes.map((b) => (b === 0 ? 1 : 0)) }),
    ),
  );

test('row tables rebuild the layout, in (head, row, column) order', () => {
  fc.assert(
    fc.property(arbLayout, (layout) => {
      const c = compileLayout(layout);
      const [H, R, C] = layout.shape;
      const rebuilt = new Uint8Array(H * R * C);
      let expectedEntry = 0;
      for (let hr = 0; hr < H * R; hr++) {
        for (let e = c.kvPtr[hr]; e < c.kvPtr[hr + 1]; e++) {
          assert.is(e, expectedEntry++);
          if (e > c.kvPtr[hr]) assert.ok(c.kvIndices[e] > c.kvIndices[e - 1], 'columns ascend');
          rebuilt[hr * C + c.kvIndices[e]] = 1;
        }
      }
      assert.is(c.nnz, expectedEntry);
      assert.equal([...rebuilt], [...layout.data].map((x) => (x ? 1 : 0)));
      assert.is(c.density, c.nnz / (H * R * C));
    }),
    { seed: 7, numRuns: 200 },
  );
});

test('transposed tables list each column\'s rows and point back at the same entries', () => {
  fc.assert(
    fc.property(arbLayout, (layout) => {
      const c = compileLayout(layout);
      const [H, R, C] = layout.shape;
      const seen = new Uint8Array(c.nnz);
      for (let h = 0; h < H; h++) {
        for (let col = 0; col < C; col++) {
          const hc = h * C + col;
          for (let t = c.qPtr[hc]; t < c.qPtr[hc + 1]; t++) {
            const r = c.qIndices[t];
            const e = c.qEntries[t];
            if (t > c.qPtr[hc]) assert.ok(r > c.qIndices[t - 1], 'rows ascend');
            assert.is(c.kvIndices[e], col);
            assert.ok(e >= c.kvPtr[h * R + r] && e < c.kvPtr[h * R + r + 1], 'entry lies in its row');
            seen[e]++;
          }
        }
      }
      assert.ok(seen.every((x) => x === 1), 'every entry appears once in the transpose');
    }),
    { seed: 11, numRuns: 200 },
  );
});

test('causalKind: full below the diagonal, partial on it, empty above', () => {
  const layout: Layout = { block: 4, shape: [1, 3, 3], data: new Uint8Array(9).fill(1) };
  const c = compileLayout(layout);
  const F = CausalKind.Full, P = CausalKind.Partial, E = CausalKind.Empty;
  assert.equal([...c.causalKind], [P, E, E, F, P, E, F, F, P]);
});

test('cached by layout data identity; a new data array compiles anew', () => {
  const data = new Uint8Array([1, 1, 0, 1]);
  const a = compileLayout({ block: 8, shape: [1, 2, 2], data });
  assert.is(compileLayout({ block: 8, shape: [1, 2, 2], data }), a);
  assert.is.not(compileLayout({ block: 16, shape: [1, 2, 2], data }), a, 'a different block is a different layout');
  assert.is.not(compileLayout({ block: 8, shape: [1, 2, 2], data: data.slice() }), a);
});

test('an empty layout compiles to empty tables', () => {
  const c = compileLayout({ block: 8, shape: [2, 3, 3], data: new Uint8Array(18) });
  assert.is(c.nnz, 0);
  assert.equal([...c.kvPtr], new Array(7).fill(0));
  assert.equal([...c.qPtr], new Array(7).fill(0));
});

test.run();
