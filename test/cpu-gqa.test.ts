// Grouped kv heads (GQA, MQA) and returnLse on the CPU, beyond the op suite's fixed cases
// (test/ops/cases.ts): a fast-check property over Hq / Hkv ratios, B, N, D, block and causal against
// the float64 reference, bitwise identical for 1 and 2 threads; both backward schedules and chunked
// passes over whole groups; returnLse with keepOnDevice and DeviceTensor k, v of the kv shape.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { attentionTuning } from '../src/cpu/attention.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import {
  CPU_TOL,
  assertClose,
  mulberry32,
  randomAttentionArgs,
  randomTensor,
  referenceAttention,
  referenceAttentionBackward,
  referenceLse,
  type HostAttentionBackwardArgs, assertSameBits } from './reference/index.js';

const Gqa = suite('cpu gqa and lse');

const E = cpuEngines(Gqa);

interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  block: number;
  R: number;
  D: number;
  causal: boolean;
  rpe: boolean;
  kpm: 'none' | 'add' | 'mul';
  density: number;
  seed: number;
}

function inputs(d: Drawn): HostAttentionBackwardArgs {
  const rng = mulberry32(d.seed);
  const H = d.Hkv * d.ratio;
  const a = randomAttentionArgs(rng, {
    shape: { B: d.B, H, N: d.R * d.block, D: d.D, block: d.block, R: d.R },
    kvHeads: d.Hkv, causal: d.causal, rpe: d.rpe, keyPaddingMaskMode: d.kpm, density: d.density, allowEmptyRows: d.density < 0.5,
  });
  return { ...a, dout: randomTensor(a.q.shape, rng) };
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2, 3, 4, 8),
  block: fc.constantFrom(4, 8, 16, 32),
  R: fc.integer({ min: 1, max: 4 }),
  D: fc.constantFrom(5, 8, 16, 32, 64),
  causal: fc.boolean(),
  rpe: fc.boolean(),
  kpm: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  density: fc.constantFrom(0.3, 0.6, 1),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

Gqa('property: forward, lse and backward match the float64 reference; 1 and 2 threads give the same bits', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, fc.boolean(), async (d, useRelaxed) => {
      const a = inputs(d);
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
    }),
    { numRuns: 40, seed: 14014, endOnFailure: true },
  );
});

Gqa('both backward schedules, chunked passes over whole groups and 1–5 tasks give the same bits', async () => {
  const cases: Drawn[] = [
    { B: 2, Hkv: 2, ratio: 4, block: 16, R: 4, D: 24, causal: true, rpe: true, kpm: 'mul', density: 0.6, seed: 11 },
    { B: 1, Hkv: 1, ratio: 3, block: 8, R: 5, D: 19, causal: false, rpe: false, kpm: 'add', density: 0.4, seed: 12 },
    { B: 3, Hkv: 2, ratio: 2, block: 32, R: 2, D: 64, causal: true, rpe: false, kpm: 'none', density: 1, seed: 13 },
  ];
  const { slotBudgetBytes, backwardSchedule } = attentionTuning;
  try {
    for (const d of cases) {
      const a = inputs(d);
      const label = JSON.stringify(d);
      forceTaskCount(1);
      attentionTuning.backwardSchedule = 'heads';
      const g1 = await E.one.attentionBackward(a);
      const ref = referenceAttentionBackward(a);
      for (const name of ['dq', 'dk', 'dv'] as const) assertClose(g1[name].data, ref[name], { ...CPU_TOL, label: `${label} ${name}` });
      for (const [schedule, budget, tasks] of [
        ['heads', slotBudgetBytes, 2], ['heads', slotBudgetBytes, 5], ['passes', slotBudgetBytes, 1], ['passes', slotBudgetBytes, 3],
        ['passes', 1, 2], ['passes', 1, 5], ['auto', 1, 2],
      ] as const) {
        attentionTuning.backwardSchedule = schedule;
        attentionTuning.slotBudgetBytes = budget;
        forceTaskCount(tasks);
        const g = await E.one.attentionBackward(a);
        for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits(g[name].data, g1[name].data, `${label} ${name}, ${schedule}, budget ${budget}, ${tasks} tasks`);
        const out = await E.one.attention(a);
        assertClose(out.data, referenceAttention(a), { ...CPU_TOL, label: `${label} out, ${tasks} tasks` });
      }
    }
  } finally {
    attentionTuning.slotBudgetBytes = slotBudgetBytes;
    attentionTuning.backwardSchedule = backwardSchedule;
    forceTaskCount(undefined);
  }
});

Gqa('returnLse with keepOnDevice: out a DeviceTensor, lse a host Tensor; k, v DeviceTensors of the kv shape', async () => {
  const d: Drawn = { B: 2, Hkv: 1, ratio: 4, block: 16, R: 3, D: 32, causal: true, rpe: false, kpm: 'none', density: 0.6, seed: 21 };
  const a = inputs(d);
  for (const e of [E.one, E.two]) {
    const host = await e.attention({ ...a, returnLse: true });
    const k = await e.upload(a.k);
    const v = await e.upload(a.v);
    const kept = await e.attention({ ...a, k, v, returnLse: true, keepOnDevice: true });
    assert.is(kept.out.backend, 'cpu');
    assert.equal([...kept.out.shape], a.q.shape);
    assert.ok(kept.lse.data instanceof Float32Array, 'lse comes back to the host');
    assertSameBits((await kept.out.read()).data, host.out.data, 'kept out');
    assertSameBits(kept.lse.data, host.lse.data, 'lse with keepOnDevice');
    const g = await e.attentionBackward({ ...a, k, v, keepOnDevice: true });
    const g1 = await e.attentionBackward(a);
    assert.equal([...g.dk.shape], a.k.shape);
    for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits((await g[name].read()).data, g1[name].data, `kept ${name}`);
    for (const t of [k, v, kept.out, g.dq, g.dk, g.dv]) t.destroy();
  }
});

Gqa('lse: −Infinity for a row with nothing left, finite and ≥ the row max otherwise', async () => {
  const a = inputs({ B: 2, Hkv: 1, ratio: 2, block: 8, R: 3, D: 8, causal: false, rpe: false, kpm: 'mul', density: 1, seed: 31 });
  // batch row 1: every key padded away
  const kpm = a.keyPaddingMask!;
  kpm.data.fill(1);
  kpm.data.fill(0, 24);
  const { out, lse } = await E.one.attention({ ...a, returnLse: true });
  const rows = 2 * 24;
  for (let i = 0; i < 2 * rows; i++) {
    if (i >= rows) assert.is(lse.data[i], -Infinity, `row ${i} of batch 1`);
    else assert.ok(Number.isFinite(lse.data[i]), `row ${i} of batch 0`);
  }
  assert.ok(out.data.subarray(out.data.length / 2).every((x) => Object.is(x, 0)), 'batch 1 out is +0');
});

Gqa.run();
