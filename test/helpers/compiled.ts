// Two compiled layouts hold the same tables (src/layouts/compile.ts): every row and transposed
// table, the counts, and each causal value's tables. For the compiles that read only some rows
// (a selection's active rows) against the compile of a plain copy of the bytes.
import * as assert from 'uvu/assert';
import { compileLayout, type CompiledLayout } from '../../src/layouts/compile.js';
import type { BatchedLayout, Layout } from '../../src/types.js';

export function assertSameTables(got: CompiledLayout, want: CompiledLayout, label: string): void {
  const plain = ['block', 'batches', 'heads', 'slots', 'rows', 'cols', 'nnz', 'density', 'maxSlotBlocks'] as const;
  for (const key of plain) assert.is(got[key], want[key], `${label}: ${key}`);
  const tables = ['kvPtr', 'kvIndices', 'qPtr', 'qIndices', 'qEntries', 'entryRow', 'causalKind', 'rowBlocks', 'colBlocks', 'slotBlocks'] as const;
  for (const key of tables) assert.equal(Array.from(got[key]), Array.from(want[key]), `${label}: ${key}`);
  for (const causal of [false, true]) {
    const [g, w] = [got.causalTables(causal), want.causalTables(causal)];
    for (const key of ['kept', 'keptFull', 'keptPartial'] as const) assert.is(g[key], w[key], `${label}: causal ${causal} ${key}`);
    const arrays = ['kvNumBlocks', 'fullKvNumBlocks', 'qNumBlocks', 'fullQNumBlocks', 'rowKept', 'colKept', 'rowOrder', 'colOrder', 'readyOrder', 'readyPtr'] as const;
    for (const key of arrays) assert.equal(Array.from(g[key]), Array.from(w[key]), `${label}: causal ${causal} ${key}`);
    assert.equal(g.rowBalance, w.rowBalance, `${label}: causal ${causal} rowBalance`);
  }
}

/** A layout's compiled tables (as attention reads them) equal those compiled from a plain copy of its bytes. */
export function assertCompiledAsCopy(layout: Layout | BatchedLayout, label: string): void {
  const copy = { ...layout, data: layout.data.slice() } as Layout | BatchedLayout;
  assertSameTables(compileLayout(layout), compileLayout(copy), label);
}
