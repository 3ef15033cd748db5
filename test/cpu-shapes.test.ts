// Attention beyond self-attention on the CPU, beyond the op suite's fixed cases (test/ops/cases.ts
// realShapesFamily): a fast-check property over Nq, Nk, qOffset (given, per batch row, or the
// default), partial last blocks, ragged keyLengths, GQA ratios, cyclic and per-batch-row layouts,
// causal and masks, against the float64 reference (forward, lse, backward), bitwise identical for
// 1 and 2 threads and for the backward's two schedules at several task counts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { caseOf, drawnShape } from './helpers/shape-cases.js';
import { attentionTuning } from '../src/cpu/attention.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import { CPU_TOL, assertClose, referenceAttention, referenceAttentionBackward, referenceLse, assertSameBits } from './reference/index.js';
import { attentionInputs } from './ops/inputs.js';

const Shapes = suite('cpu attention beyond self-attention');

const E = cpuEngines(Shapes);

Shapes('property: forward, lse and backward match the float64 reference; 1 and 2 threads, both schedules give the same bits', async () => {
  const { backwardSchedule } = attentionTuning;
  try {
    await fc.assert(
      fc.asyncProperty(drawnShape(), fc.boolean(), async (d, useRelaxed) => {
        const a = attentionInputs(caseOf(d));
        const label = JSON.stringify(d);
        const e = useRelaxed ? E.relaxed : E.one;
        const { out, lse } = await e.attention({ ...a, returnLse: true });
        assert.equal(out.shape, a.q.shape);
        assert.equal(lse.shape, a.q.shape.slice(0, 3));
        assertClose(out.data, referenceAttention(a), { ...CPU_TOL, label: `${label} out` });
        assertClose(lse.data, referenceLse(a), { ...CPU_TOL, label: `${label} lse` });
        assertSameBits((await e.attention(a)).data, out.data, `${label} out without returnLse`);
        const g = await e.attentionBackward(a);
        const ref = referenceAttentionBackward(a);
        assert.equal(g.dk.shape, a.k.shape);
        assert.equal(g.dv.shape, a.k.shape);
        for (const name of ['dq', 'dk', 'dv'] as const) assertClose(g[name].data, ref[name], { ...CPU_TOL, label: `${label} ${name}` });
        if (useRelaxed) return;
        const pooled = await E.two.attention({ ...a, returnLse: true });
        assertSameBits(pooled.out.data, out.data, `${label} out, 2 threads`);
        assertSameBits(pooled.lse.data, lse.data, `${label} lse, 2 threads`);
        const g2 = await E.two.attentionBackward(a);
        for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits(g2[name].data, g[name].data, `${label} ${name}, 2 threads`);
        for (const [schedule, tasks] of [['heads', 3], ['passes', 1], ['passes', 4]] as const) {
          attentionTuning.backwardSchedule = schedule;
          forceTaskCount(tasks);
          try {
            const gs = await E.one.attentionBackward(a);
            for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits(gs[name].data, g[name].data, `${label} ${name}, ${schedule}, ${tasks} tasks`);
            assertSameBits((await E.one.attention(a)).data, out.data, `${label} out, ${tasks} tasks`);
          } finally {
            attentionTuning.backwardSchedule = backwardSchedule;
            forceTaskCount(undefined);
          }
        }
      }),
      { numRuns: 100, seed: 14114, endOnFailure: true },
    );
  } finally {
    attentionTuning.backwardSchedule = backwardSchedule;
    forceTaskCount(undefined);
  }
});

Shapes('decode: one query per batch row against long keys, every offset a block edge can take', async () => {
  // Nq = 1 at positions around block edges (0, block − 1, block, …): each is its own partial tile
  for (const qOffset of [0, 15, 16, 17, 63, 64, 95]) {
    const c = caseOf({
      B: 2, Hkv: 2, ratio: 4, sharedLayoutHead: false, block: 16, Nq: 1, extraKeys: 95, offset: 'rows', offsets: [qOffset, 95 - qOffset, 0],
      ragged: false, lengths: [0, 0, 0], batchedLayout: true, D: 32, causal: true, rpe: false, kpm: 'add', am: 'none', density: 0.6, seed: 40 + qOffset,
    });
    const a = attentionInputs(c);
    const { out, lse } = await E.one.attention({ ...a, returnLse: true });
    assertClose(out.data, referenceAttention(a), { ...CPU_TOL, label: `qOffset ${qOffset} out` });
    assertClose(lse.data, referenceLse(a), { ...CPU_TOL, label: `qOffset ${qOffset} lse` });
    const g = await E.two.attentionBackward(a);
    const ref = referenceAttentionBackward(a);
    for (const name of ['dq', 'dk', 'dv'] as const) assertClose(g[name].data, ref[name], { ...CPU_TOL, label: `qOffset ${qOffset} ${name}` });
  }
});

Shapes.run();
