// compileLayout's tables describe exactly the layout. Every table is checked against a brute-force
// derivation from layout.data, over random layouts (rectangular ones and [Bl, Hl, R, C] ones
// included): the row and transposed tables rebuild the layout in (slot, row, column) order, the
// counts match, each causal value's full/partial split, visit counts, longest-first orders and
// readiness match a direct reading of the dense layout, and compiled objects are cached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { CausalKind, compileLayout, longestFirst } from '../src/layouts/compile.js';
import type { Layout } from '../src/types.js';
import { assertSameTables } from './helpers/compiled.js';

/** A random layout, R ≠ C allowed; `batched` gives it shape [Bl, Hl, R, C] (compiled, not yet validated by the API). */
const arbLayout = (batched = false) =>
  fc
    .record({
      Bl: fc.integer({ min: 1, max: batched ? 3 : 1 }),
      H: fc.integer({ min: 1, max: 3 }),
      R: fc.integer({ min: 1, max: 9 }),
      C: fc.integer({ min: 1, max: 19 }),
      // up to 40: mostly empty rows, which the compile skips four bytes at a time
      sparsity: fc.integer({ min: 1, max: 40 }),
      // data starting at any byte of a word
      offset: fc.integer({ min: 0, max: 3 }),
    })
    .chain(({ Bl, H, R, C, sparsity, offset }) =>
      fc.uint8Array({ minLength: Bl * H * R * C, maxLength: Bl * H * R * C, max: sparsity }).map(
        (bytes): Layout => {
          const data = new Uint8Array(bytes.length + 4).subarray(offset, offset + bytes.length);
          // any non-zero byte keeps a block (not only 1)
          data.set(bytes.map((b) => (b === 0 ? 1 + (b % 3) : 0)));
          return { block: 16, shape: (batched ? [Bl, H, R, C] : [H, R, C]) as Layout['shape'], data };
        },
      ),
    );

const anyLayout = fc.oneof(arbLayout(false), arbLayout(true));

/** [S, R, C] of a layout as the tables see it: S = Bl·Hl slots. */
function dims(layout: Layout): [number, number, number] {
  const s = layout.shape as readonly number[];
  return s.length === 4 ? [s[0] * s[1], s[2], s[3]] : [s[0], s[1], s[2]];
}

const kept = (layout: Layout, s: number, r: number, c: number) => {
  const [, R, C] = dims(layout);
  return layout.data[(s * R + r) * C + c] !== 0;
};

/** What causal does to block (r, c), read off the definition: query offset 0, diagonal r = c. */
function kindOf(r: number, c: number): number {
  return c < r ? CausalKind.Full : c === r ? CausalKind.Partial : CausalKind.Empty;
}

test('row tables rebuild the layout, in (slot, row, column) order, with their counts', () => {
  fc.assert(
    fc.property(anyLayout, (layout) => {
      const c = compileLayout(layout);
      const [S, R, C] = dims(layout);
      assert.equal([c.slots, c.rows, c.cols], [S, R, C]);
      const rebuilt = new Uint8Array(S * R * C);
      let expectedEntry = 0;
      for (let i = 0; i < S * R; i++) {
        for (let e = c.kvPtr[i]; e < c.kvPtr[i + 1]; e++) {
          assert.is(e, expectedEntry++);
          if (e > c.kvPtr[i]) assert.ok(c.kvIndices[e] > c.kvIndices[e - 1], 'columns ascend');
          assert.is(c.entryRow[e], i);
          assert.is(c.causalKind[e], kindOf(i % R, c.kvIndices[e]));
          rebuilt[i * C + c.kvIndices[e]] = 1;
        }
        let n = 0;
        for (let col = 0; col < C; col++) n += kept(layout, Math.floor(i / R), i % R, col) ? 1 : 0;
        assert.is(c.rowBlocks[i], n);
      }
      assert.is(c.nnz, expectedEntry);
      assert.equal([...rebuilt], [...layout.data].map((x) => (x ? 1 : 0)));
      assert.is(c.density, c.nnz / (S * R * C));
      for (let s = 0; s < S; s++) {
        let n = 0;
        for (let r = 0; r < R; r++) for (let col = 0; col < C; col++) n += kept(layout, s, r, col) ? 1 : 0;
        assert.is(c.slotBlocks[s], n);
      }
      assert.is(c.maxSlotBlocks, Math.max(0, ...c.slotBlocks));
      assert.is(c.maxRowBlocks, Math.max(0, ...c.rowBlocks));
    }),
    { seed: 7, numRuns: 300 },
  );
});

test('transposed tables list each column\'s rows and point back at the same entries', () => {
  fc.assert(
    fc.property(anyLayout, (layout) => {
      const c = compileLayout(layout);
      const [S, R, C] = dims(layout);
      const seen = new Uint8Array(c.nnz);
      for (let s = 0; s < S; s++) {
        for (let col = 0; col < C; col++) {
          const j = s * C + col;
          let n = 0;
          for (let r = 0; r < R; r++) n += kept(layout, s, r, col) ? 1 : 0;
          assert.is(c.colBlocks[j], n);
          assert.is(c.qPtr[j + 1] - c.qPtr[j], n);
          for (let t = c.qPtr[j]; t < c.qPtr[j + 1]; t++) {
            const r = c.qIndices[t];
            const e = c.qEntries[t];
            if (t > c.qPtr[j]) assert.ok(r > c.qIndices[t - 1], 'rows ascend');
            assert.is(c.kvIndices[e], col);
            assert.ok(e >= c.kvPtr[s * R + r] && e < c.kvPtr[s * R + r + 1], 'entry lies in its row');
            seen[e]++;
          }
        }
      }
      assert.ok(seen.every((x) => x === 1), 'every entry appears once in the transpose');
    }),
    { seed: 11, numRuns: 300 },
  );
});

test('causal tables: the full/partial split, visit counts and the prefix/suffix ranges, for both values', () => {
  fc.assert(
    fc.property(anyLayout, fc.boolean(), (layout, causal) => {
      const c = compileLayout(layout);
      const t = c.causalTables(causal);
      const [S, R, C] = dims(layout);
      assert.is(t.causal, causal);
      let full = 0, partial = 0;
      for (let s = 0; s < S; s++) {
        for (let r = 0; r < R; r++) {
          const i = s * R + r;
          const fullCols: number[] = [], partialCols: number[] = [];
          for (let col = 0; col < C; col++) {
            if (!kept(layout, s, r, col)) continue;
            const kind = causal ? kindOf(r, col) : CausalKind.Full;
            if (kind === CausalKind.Full) fullCols.push(col);
            else if (kind === CausalKind.Partial) partialCols.push(col);
          }
          assert.is(t.fullKvNumBlocks[i], fullCols.length);
          assert.is(t.kvNumBlocks[i], partialCols.length);
          assert.is(t.rowKept[i], fullCols.length + partialCols.length);
          // a row visits a prefix of its entries: full blocks, then partial ones
          const start = c.kvPtr[i];
          assert.equal([...c.kvIndices.subarray(start, start + t.fullKvNumBlocks[i])], fullCols);
          assert.equal([...c.kvIndices.subarray(start + t.fullKvNumBlocks[i], start + t.rowKept[i])], partialCols);
          full += fullCols.length;
          partial += partialCols.length;
        }
        for (let col = 0; col < C; col++) {
          const j = s * C + col;
          const fullRows: number[] = [], partialRows: number[] = [];
          for (let r = 0; r < R; r++) {
            if (!kept(layout, s, r, col)) continue;
            const kind = causal ? kindOf(r, col) : CausalKind.Full;
            if (kind === CausalKind.Full) fullRows.push(r);
            else if (kind === CausalKind.Partial) partialRows.push(r);
          }
          assert.is(t.fullQNumBlocks[j], fullRows.length);
          assert.is(t.qNumBlocks[j], partialRows.length);
          assert.is(t.colKept[j], fullRows.length + partialRows.length);
          // a column visits a suffix of its transposed entries: partial blocks, then full ones
          const from = c.qPtr[j + 1] - t.colKept[j];
          assert.equal([...c.qIndices.subarray(from, from + t.qNumBlocks[j])], partialRows);
          assert.equal([...c.qIndices.subarray(from + t.qNumBlocks[j], c.qPtr[j + 1])], fullRows);
        }
      }
      assert.equal([t.kept, t.keptFull, t.keptPartial], [full + partial, full, partial]);
      if (!causal) assert.equal([t.kept, t.keptPartial], [c.nnz, 0]);
    }),
    { seed: 13, numRuns: 300 },
  );
});

/** Brute-force longest-first: every index, by descending length, ties by index. */
function bruteOrder(len: ArrayLike<number>): number[] {
  const idx = Array.from({ length: len.length }, (_, i) => i);
  const out: number[] = [];
  for (let want = Math.max(0, ...Array.from(len)); want >= 0; want--) for (const i of idx) if (len[i] === want) out.push(i);
  return out;
}

test('causal tables: longest-first orders, row balance and readiness', () => {
  fc.assert(
    fc.property(anyLayout, fc.boolean(), (layout, causal) => {
      const c = compileLayout(layout);
      const t = c.causalTables(causal);
      const [S, R, C] = dims(layout);
      assert.equal([...t.rowOrder], bruteOrder(t.rowKept));
      assert.equal([...t.colOrder], bruteOrder(t.colKept));
      const rows = [...t.rowKept];
      assert.equal(t.rowBalance, { max: Math.max(0, ...rows), mean: rows.reduce((a, b) => a + b, 0) / rows.length });
      for (let s = 0; s < S; s++) {
        // the last row that visits each column, from the dense layout
        const last = Array.from({ length: C }, (_, col) => {
          let l = -1;
          for (let r = 0; r < R; r++) if (kept(layout, s, r, col) && (!causal || kindOf(r, col) !== CausalKind.Empty)) l = r;
          return l;
        });
        const ptr = t.readyPtr.subarray(s * (R + 2), (s + 1) * (R + 2));
        const order = [...t.readyOrder.subarray(s * C, (s + 1) * C)];
        assert.is(ptr[0], 0);
        assert.is(ptr[R + 1], C);
        for (let g = 0; g <= R; g++) {
          // bucket g: the columns whose last row is g − 1, ascending
          const want = last.flatMap((l, col) => (l === g - 1 ? [col] : []));
          assert.equal(order.slice(ptr[g], ptr[g + 1]), want);
        }
      }
    }),
    { seed: 17, numRuns: 300 },
  );
});

test('causal split on a full square layout: full below the diagonal, partial on it, empty above', () => {
  const layout: Layout = { block: 4, shape: [1, 3, 3], data: new Uint8Array(9).fill(1) };
  const c = compileLayout(layout);
  const F = CausalKind.Full, P = CausalKind.Partial, E = CausalKind.Empty;
  assert.equal([...c.causalKind], [P, E, E, F, P, E, F, F, P]);
  const t = c.causalTables(true);
  assert.equal([...t.fullKvNumBlocks], [0, 1, 2]);
  assert.equal([...t.kvNumBlocks], [1, 1, 1]);
  assert.equal([...t.fullQNumBlocks], [2, 1, 0]);
  assert.equal([...t.qNumBlocks], [1, 1, 1]);
  assert.equal([t.kept, t.keptFull, t.keptPartial], [6, 3, 3]);
  assert.equal([...t.rowOrder], [2, 1, 0]);
  assert.equal([...t.colOrder], [0, 1, 2]);
  const plain = c.causalTables(false);
  assert.equal([...plain.fullKvNumBlocks], [3, 3, 3]);
  assert.equal([...plain.kvNumBlocks], [0, 0, 0]);
  assert.equal([plain.kept, plain.keptFull, plain.keptPartial], [9, 9, 0]);
});

test('slotOf: the identity today; batch rows and cyclic heads for [Bl, Hl, R, C] layouts', () => {
  const c = compileLayout({ block: 8, shape: [3, 2, 2], data: new Uint8Array(12).fill(1) });
  assert.equal([c.batches, c.heads, c.slots], [1, 3, 3]);
  for (let b = 0; b < 4; b++) for (let h = 0; h < 3; h++) assert.is(c.slotOf(b, h), h);
  const batched = compileLayout({ block: 8, shape: [2, 3, 2, 2] as unknown as Layout['shape'], data: new Uint8Array(24).fill(1) });
  assert.equal([batched.batches, batched.heads, batched.slots], [2, 3, 6]);
  assert.is(batched.slotOf(1, 2), 5);
  assert.is(batched.slotOf(1, 4), 4, 'query head 4 uses layout head 4 % 3');
  assert.is(batched.slotOf(2, 0), 0, 'batch row 2 of a 2-row layout wraps like a head');
});

test('cached: compileLayout by layout data identity, causalTables per value', () => {
  const data = new Uint8Array([1, 1, 0, 1]);
  const a = compileLayout({ block: 8, shape: [1, 2, 2], data });
  assert.is(compileLayout({ block: 8, shape: [1, 2, 2], data }), a);
  assert.is.not(compileLayout({ block: 16, shape: [1, 2, 2], data }), a, 'a different block is a different layout');
  assert.is.not(compileLayout({ block: 8, shape: [1, 2, 2], data: data.slice() }), a);
  assert.is(a.causalTables(true), a.causalTables(true));
  assert.is(a.causalTables(false), a.causalTables(false));
  assert.is.not(a.causalTables(true), a.causalTables(false));
  assert.is(a.causalTables(false).rowKept, a.rowBlocks, 'without causal a row visits every kept block');
  assert.is(a.causalTables(true).rowOrder, a.causalTables(true).rowOrder, 'orders made once, at the first read');
});

/** Ascending, disjoint byte ranges of a layout of `n` bytes, from cut points. */
test('an empty layout compiles to empty tables', () => {
  const c = compileLayout({ block: 8, shape: [2, 3, 3], data: new Uint8Array(18) });
  assert.is(c.nnz, 0);
  assert.equal([...c.kvPtr], new Array(7).fill(0));
  assert.equal([...c.qPtr], new Array(7).fill(0));
  const t = c.causalTables(true);
  assert.equal([t.kept, t.rowBalance.max, t.rowBalance.mean], [0, 0, 0]);
  assert.equal([...t.readyPtr.subarray(0, 5)], [0, 3, 3, 3, 3], 'every column in bucket 0: no row visits it');
});

test('toString: shape, counts, density and a drawing of one slot', () => {
  const layout: Layout = { block: 4, shape: [2, 2, 3], data: new Uint8Array([1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0]) };
  const c = compileLayout(layout);
  assert.is(c.toString(), 'CompiledLayout [1, 2, 2, 3] block 4: nnz 7, density 58.33%\n██·\n███');
  assert.is(c.toString(1).split('\n').slice(1).join('\n'), '··█\n█··');
  assert.is(c.toString(0, true), 'CompiledLayout [1, 2, 2, 3] block 4: nnz 7, density 58.33%; causal keeps 4 (2 full, 2 partial)\n▒··\n█▒·');
  assert.is(`${c}`, c.toString(), 'template strings draw slot 0');
});

test('longestFirst orders indices by descending length, ties in index order', () => {
  assert.equal([...longestFirst(Int32Array.from([2, 5, 2, 0, 5]))], [1, 4, 0, 2, 3]);
});

test.run();
