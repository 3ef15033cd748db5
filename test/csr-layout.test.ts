// layoutFromCsr / layoutToCsr: ONNX Runtime SparseAttention's CSR tables (block_row_indices,
// block_col_indices) to and from Layouts: ORT's own example, round trips of random layouts, and
// every bad input pinned.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Layout } from '../src/types.js';
import { layoutFromCsr, layoutToCsr, layoutFromMask } from '../src/layouts/index.js';

const i32 = (xs: number[]) => Int32Array.from(xs);

test("ORT's documented example: two 4 × 4 layouts, the first padded with -1", () => {
  // The SparseAttention op's doc string (onnxruntime/core/graph/contrib_ops/bert_defs.cc).
  const tables = {
    rowIndices: i32([0, 1, 3, 5, 8, 0, 1, 3, 6, 9]),
    colIndices: i32([0, 0, 1, 1, 2, 1, 2, 3, -1, 0, 0, 1, 0, 1, 2, 0, 2, 3]),
    numLayouts: 2,
    block: 64,
  };
  const layout = layoutFromCsr(tables);
  assert.is(layout.block, 64);
  assert.equal(layout.shape, [2, 4, 4]);
  assert.equal([...layout.data], [
    1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1,
    1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1,
  ]);
  assert.equal(layoutToCsr(layout), tables);
});

const arbLayout = fc
  .record({ H: fc.integer({ min: 1, max: 4 }), R: fc.integer({ min: 1, max: 12 }), block: fc.constantFrom(16, 32, 64), density: fc.double({ min: 0, max: 1, noNaN: true }) })
  .chain(({ H, R, block, density }) =>
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: H * R * R, maxLength: H * R * R })
      .map((u): Layout => ({ block, shape: [H, R, R], data: Uint8Array.from(u, (x) => (x < density ? 1 : 0)) })));

test('random layouts: layoutToCsr then layoutFromCsr gives the layout back; the tables are canonical', () => {
  fc.assert(
    fc.property(arbLayout, (layout) => {
      const csr = layoutToCsr(layout);
      const [H, R] = layout.shape;
      const kept = Array.from({ length: H }, (_, h) => layout.data.subarray(h * R * R, (h + 1) * R * R).reduce((a, x) => a + x, 0));
      const nnzMax = Math.max(...kept);
      assert.is(csr.numLayouts, H);
      assert.is(csr.block, layout.block);
      assert.is(csr.rowIndices.length, H * (R + 1));
      assert.is(csr.colIndices.length, H * nnzMax);
      for (let h = 0; h < H; h++) {
        assert.is(csr.rowIndices[h * (R + 1)], 0);
        assert.is(csr.rowIndices[h * (R + 1) + R], kept[h]);
        for (let j = kept[h]; j < nnzMax; j++) assert.is(csr.colIndices[h * nnzMax + j], -1);
        for (let r = 0; r < R; r++) {
          const cols = csr.colIndices.subarray(h * nnzMax + csr.rowIndices[h * (R + 1) + r], h * nnzMax + csr.rowIndices[h * (R + 1) + r + 1]);
          for (let j = 1; j < cols.length; j++) assert.ok(cols[j - 1] < cols[j], 'columns ascending');
        }
      }
      const back = layoutFromCsr(csr);
      assert.equal(back.shape, layout.shape);
      assert.equal(back.data, layout.data);
      assert.equal(layoutToCsr(back), csr);
    }),
    { numRuns: 200 },
  );
});

test('columns in any order within a row; padding is not read; cells other than 1 read as kept', () => {
  const l = layoutFromCsr({ rowIndices: i32([0, 1, 3]), colIndices: i32([0, 1, 0, 99]), numLayouts: 1, block: 16 });
  assert.equal([...l.data], [1, 0, 1, 1]);
  const empty = layoutFromCsr({ rowIndices: i32([0, 0, 0, 0, 0, 0]), colIndices: new Int32Array(0), numLayouts: 2, block: 16 });
  assert.equal(empty.shape, [2, 2, 2]);
  assert.ok(empty.data.every((x) => x === 0));
  assert.equal(layoutToCsr(empty).colIndices, new Int32Array(0));
  const twos: Layout = { block: 16, shape: [1, 2, 2], data: Uint8Array.from([2, 0, 255, 1]) };
  assert.equal(layoutToCsr(twos).colIndices, i32([0, 0, 1]));
  // a causal layout from a predicate, as ORT's kernels expect (they mask above the diagonal anyway)
  const causal = layoutFromMask(3, 6, (h, r, c) => c <= r && (r - c < 2 || (c + h + 1) % 3 === 0), 64);
  assert.equal(layoutFromCsr(layoutToCsr(causal)), causal);
});

const isErr = (Type: new (...a: never[]) => Error, ...words: string[]) => (e: unknown) =>
  e instanceof Type && words.every((w) => (e as Error).message.includes(w));

test('bad tables give a TypeError or RangeError naming the argument', () => {
  const ok = { rowIndices: i32([0, 1, 3]), colIndices: i32([0, 0, 1, -1]), numLayouts: 1, block: 16 };
  assert.ok(layoutFromCsr(ok));
  const bad = (patch: Record<string, unknown>) => () => layoutFromCsr({ ...ok, ...patch } as never);
  // the options object
  assert.throws(() => layoutFromCsr(undefined as never), isErr(TypeError, 'layoutFromCsr takes one options object'));
  assert.throws(bad({ num_layouts: 1 }), isErr(TypeError, 'num_layouts', 'did you mean numLayouts?'));
  // kinds
  assert.throws(bad({ rowIndices: [0, 1, 3] }), isErr(TypeError, 'rowIndices must be an Int32Array', '[0, 1, 3]'));
  assert.throws(bad({ rowIndices: new Uint32Array(3) }), isErr(TypeError, 'rowIndices must be an Int32Array', 'Uint32Array'));
  assert.throws(bad({ colIndices: new Float32Array(4) }), isErr(TypeError, 'colIndices must be an Int32Array'));
  assert.throws(bad({ colIndices: undefined }), isErr(TypeError, 'colIndices must be an Int32Array', 'undefined'));
  assert.throws(bad({ numLayouts: undefined }), isErr(TypeError, 'numLayouts', 'undefined'));
  assert.throws(bad({ numLayouts: 0 }), isErr(RangeError, 'numLayouts', '0'));
  assert.throws(bad({ numLayouts: 1.5 }), isErr(TypeError, 'numLayouts', '1.5'));
  assert.throws(bad({ block: undefined }), isErr(TypeError, 'block must be a positive integer', 'undefined'));
  assert.throws(bad({ block: 0 }), isErr(RangeError, 'block must be a positive integer', '0'));
  assert.throws(bad({ block: 16.5 }), isErr(TypeError, 'block', '16.5'));
  // lengths against numLayouts
  assert.throws(bad({ numLayouts: 2 }), isErr(RangeError, 'rowIndices.length (3) must be numLayouts (2) × (R + 1)'));
  assert.throws(bad({ rowIndices: i32([0]) }), isErr(RangeError, 'rowIndices.length (1)', 'R ≥ 1'));
  assert.throws(bad({ rowIndices: i32([0, 1, 3, 0, 1, 3]), colIndices: i32([0, 0, 1, 0, 0]), numLayouts: 2 }), isErr(RangeError, 'colIndices.length (5) must be numLayouts (2) × nnzMax'));
  assert.throws(bad({ rowIndices: i32([0, 1, 3, 0, 1, 3]), numLayouts: 2 }), isErr(RangeError, 'rowIndices[2] (3) must be at most nnzMax (2)'));
  assert.throws(bad({ colIndices: i32([0, 0, 1, -1, -1]) }), isErr(RangeError, 'colIndices.length (5)', 'nnzMax ≤ R² (4)'));
  // row pointers
  assert.throws(bad({ rowIndices: i32([1, 1, 3]) }), isErr(RangeError, 'rowIndices[0] (layout 0, row 0) must be 0, got 1'));
  assert.throws(
    () => layoutFromCsr({ ...ok, rowIndices: i32([0, 1, 3, 2, 2, 3]), colIndices: i32([0, 0, 1, -1, 0, 0, 1, -1]), numLayouts: 2 }),
    isErr(RangeError, 'rowIndices[3] (layout 1, row 0) must be 0, got 2'),
  );
  assert.throws(bad({ rowIndices: i32([0, 3, 2]) }), isErr(RangeError, 'non-decreasing', 'rowIndices[2] (2) < rowIndices[1] (3)'));
  assert.throws(bad({ rowIndices: i32([0, 1, 5]) }), isErr(RangeError, 'rowIndices[2] (5) must be at most nnzMax (4)'));
  assert.throws(bad({ rowIndices: i32([0, -1, 3]) }), isErr(RangeError, 'rowIndices[1] (-1) < rowIndices[0] (0)'));
  // columns
  assert.throws(bad({ colIndices: i32([0, 0, 2, -1]) }), isErr(RangeError, 'colIndices[2] (2) (layout 0, block row 1) must be in [0, 2)'));
  assert.throws(bad({ colIndices: i32([-1, 0, 1, -1]) }), isErr(RangeError, 'colIndices[0] (-1) (layout 0, block row 0) must be in [0, 2)'));
  assert.throws(bad({ colIndices: i32([0, 1, 1, -1]) }), isErr(RangeError, 'colIndices[2] repeats block column 1 of layout 0, block row 1'));
  // layoutToCsr
  assert.throws(() => layoutToCsr(layoutFromMask(1, [2, 3], () => true)), isErr(RangeError, 'layout.shape must be square', '[1, 2, 3]'));
  assert.throws(() => layoutToCsr({ block: 16, shape: [1, 2, 2], data: new Uint8Array(3) }), isErr(RangeError, 'layout.data.length'));
  assert.throws(() => layoutToCsr(null as never), isErr(TypeError, 'layout'));
});

test.run();
