// A selected layout against the float64 reference's (test/reference/select-blocks.ts), for the CPU
// suites (test/select-blocks.test.ts, test/kv-summaries.test.ts): rows the reference marks as near
// ties (f32 may cut them otherwise) may differ, a few of them; every other row must match exactly.
// And the heads and sizes both suites draw their selections over.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { BatchedLayout } from '../../src/types.js';
import type { RefSelection } from '../reference/select-blocks.js';

/** Rows of `got` that differ from the reference's, near ties excepted; `label` names the case. */
export function assertSelection(got: BatchedLayout, ref: RefSelection, label: string): void {
  assert.equal([...got.shape], ref.shape, `${label}: shape`);
  const C = ref.shape[3];
  let ties = 0;
  for (let t = 0; t < ref.nearTie.length; t++) {
    for (let c = 0; c < C; c++) {
      if (got.data[t * C + c] === ref.data[t * C + c]) continue;
      if (ref.nearTie[t]) {
        ties++;
        break;
      }
      assert.unreachable(
        `${label}: block row ${t} differs at column ${c}: got ${got.data.subarray(t * C, t * C + C).join('')}, ` +
          `expected ${ref.data.subarray(t * C, t * C + C).join('')} (scores ${Array.from(ref.scores.subarray(t * C, t * C + C), (x) => x.toFixed(4)).join(' ')})`,
      );
    }
  }
  assert.ok(ties <= Math.max(1, ref.nearTie.length / 20), `${label}: ${ties} near-tie rows differ`);
}

/** The fields of a drawn selection both CPU suites share: batch rows, kv heads and group ratio, D, block. */
export const selectionSizes = {
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2, 4),
  D: fc.constantFrom(3, 8, 16, 21),
  block: fc.constantFrom(1, 4, 8, 16),
};
