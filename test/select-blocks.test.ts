// engine.selectBlocks and engine.attentionMass on the CPU against the float64 references
// (test/reference/select-blocks.ts, attention-mass.ts): topK and threshold, causal, query offsets,
// keyLengths, GQA, partial blocks, keep, ties; the same bytes for every thread count and task split;
// float16 inputs; keepOnDevice's DeviceLayout in attention; the selection's compiled tables (from its
// active rows alone) those of a copy of its bytes, and attention over it the bits of attention over the copy. Rows the reference marks as near ties
// (f32 may cut them otherwise) may differ; every other row must match exactly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { forceTaskCount } from '../src/cpu/tasks.js';
import { createEngine } from '../src/index.js';
import type { BatchedLayout, Layout, SelectBlocksArgs, Tensor } from '../src/types.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import { halfTensor } from './helpers/float16.js';
import { assertSelection, selectionSizes } from './helpers/selection.js';
import { assertCompiledAsCopy } from './helpers/compiled.js';
import { compileLayout } from '../src/layouts/compile.js';
import { SelectedRows, selectedRows } from '../src/layouts/selected-layout.js';
import {
  assertClose, mulberry32, randomTensor, referenceAttention, referenceAttentionMass, referenceSelectBlocks,
} from './reference/index.js';

const S = suite('selectBlocks and attentionMass (cpu)');
const E = cpuEngines(S);

interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  D: number;
  block: number;
  Nq: number;
  Nk: number;
  causal: boolean;
  offsets: 'default' | 'zero' | 'random';
  lengths: boolean;
  rule: { topK: number } | { threshold: number };
  keep: { diagonal: boolean; first: number; local: number } | null;
  scale: number | undefined;
  score: 'mean' | 'bound';
  seed: number;
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  ...selectionSizes,
  Nq: fc.integer({ min: 1, max: 70 }),
  Nk: fc.integer({ min: 1, max: 90 }),
  causal: fc.boolean(),
  offsets: fc.constantFrom('default' as const, 'zero' as const, 'random' as const),
  lengths: fc.boolean(),
  rule: fc.oneof(fc.record({ topK: fc.integer({ min: 1, max: 6 }) }), fc.record({ threshold: fc.constantFrom(0.2, 0.5, 0.8, 0.95, 1) })),
  keep: fc.option(fc.record({ diagonal: fc.boolean(), first: fc.integer({ min: 0, max: 2 }), local: fc.integer({ min: 0, max: 6 }) })),
  scale: fc.constantFrom(undefined, 1, 4),
  score: fc.constantFrom('mean' as const, 'bound' as const),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

function inputs(d: Drawn): SelectBlocksArgs & { q: Tensor; k: Tensor; block: number } {
  const rng = mulberry32(d.seed);
  const Hq = d.Hkv * d.ratio;
  const q = randomTensor([d.B, Hq, d.Nq, d.D], rng);
  const k = randomTensor([d.B, d.Hkv, d.Nk, d.D], rng);
  const keyLengths = d.lengths ? Int32Array.from({ length: d.B }, () => Math.floor(rng() * (d.Nk + 1))) : undefined; // 0: no keys, nothing selected
  const qOffset =
    d.offsets === 'zero' ? 0 : d.offsets === 'random' ? Int32Array.from({ length: d.B }, () => Math.floor(rng() * 40)) : undefined;
  // the default offset (keyLengths[b] − Nq) must not be negative
  const ok = qOffset !== undefined || (keyLengths ? Math.min(...keyLengths) : d.Nk) >= d.Nq;
  return {
    q, k, block: d.block, causal: d.causal, keyLengths, qOffset: ok ? qOffset : 0, scale: d.scale, score: d.score, ...d.rule, ...(d.keep ? { keep: d.keep } : {}),
  };
}

S('the selection equals the float64 reference, and the bytes are the same for 1, 2 threads and forced splits', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      const args = inputs(d);
      const ref = referenceSelectBlocks(args);
      const one = await E.one.selectBlocks(args);
      assertSelection(one, ref, JSON.stringify({ ...d, seed: d.seed }));
      assertSelection(await E.relaxed.selectBlocks(args), ref, 'relaxed');
      const two = await E.two.selectBlocks(args);
      assert.equal(two.data, one.data, 'two threads');
      forceTaskCount(3);
      try {
        assert.equal((await E.two.selectBlocks(args)).data, one.data, 'three tasks');
      } finally {
        forceTaskCount(undefined);
      }
    }),
    { numRuns: 120, seed: 17 },
  );
});

/** Attention over `layout` and over a plain copy of its bytes: the same bits, on one and two threads, and the reference's values. */
async function assertAttendsAsCopy(args: ReturnType<typeof inputs>, layout: BatchedLayout, v: Tensor, label: string): Promise<void> {
  const { q, k, causal, qOffset, keyLengths, scale } = args;
  const call = { q, k, v, causal, qOffset, keyLengths, scale };
  const copy = { ...layout, data: layout.data.slice() };
  const want = await E.one.attention({ ...call, layout: copy });
  assertClose(want.data, referenceAttention({ ...call, layout: copy }), { label: `${label}: attention against the reference` });
  assert.equal((await E.one.attention({ ...call, layout })).data, want.data, `${label}: attention`);
  assert.equal((await E.two.attention({ ...call, layout })).data, want.data, `${label}: attention, two threads`);
}

// Nq 1 … 16 near the keys' end: decode steps (the decode path, a few active rows), beside the longer draws
const decodeDraws = drawn.chain((d) => fc.record({ Nq: fc.integer({ min: 1, max: 16 }), offsets: fc.constantFrom('default' as const, 'random' as const) }).map((x) => ({ ...d, ...x, Nk: Math.max(d.Nk, 40) })));

S('the selection compiles to the tables of a copy of its bytes, and attention over it gives the bits of attention over the copy', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(decodeDraws, drawn), async (d) => {
      const args = inputs(d);
      const label = JSON.stringify(d);
      const v = randomTensor([d.B, d.Hkv, d.Nk, d.D], mulberry32(d.seed + 1));
      const one = await E.one.selectBlocks(args);
      assert.equal((await E.two.selectBlocks(args)).data, one.data, `${label}: two threads`);
      // the first compile of each is attention's own, then the tables are compared
      await assertAttendsAsCopy(args, one, v, label);
      assertCompiledAsCopy(one, label);
      const fresh = await E.two.selectBlocks(args);
      assertCompiledAsCopy(fresh, `${label}: compiled before attention`);
      await assertAttendsAsCopy(args, fresh, v, `${label}: compiled before attention`);
    }),
    { numRuns: 120, seed: 19 },
  );
});

S('a decode step\'s selection is compiled from its active block rows alone: a byte set elsewhere afterwards is not read', async () => {
  const rng = mulberry32(7);
  const q = randomTensor([1, 2, 1, 8], rng);
  const k = randomTensor([1, 2, 200, 8], rng);
  const layout = await E.one.selectBlocks({ q, k, block: 8, topK: 3, causal: true });
  const [, H, R, C] = layout.shape;
  assert.equal([H, R, C], [2, 25, 25]);
  const nnz = compileLayout({ ...layout, data: layout.data.slice() }).nnz;
  layout.data[0] = 1; // block row 0 holds no query: the selection left it out of what compiles
  assert.is(compileLayout(layout).nnz, nnz);
  assert.is(compileLayout({ ...layout, data: layout.data.slice() }).nnz, nnz + 1, 'a copy is read whole');
});

/** Calls of SelectedRows.toDense (a selection's dense bytes built) while `f` runs. */
async function densesBuilt(f: () => Promise<void>): Promise<number> {
  const proto = SelectedRows.prototype;
  const toDense = proto.toDense;
  let n = 0;
  proto.toDense = function (this: SelectedRows) {
    n++;
    return toDense.call(this);
  };
  try {
    await f();
  } finally {
    proto.toDense = toDense;
  }
  return n;
}

/** The dense layout the format's loop rebuilds from compiled tables (src/layouts/compile.ts). */
function rebuilt(layout: BatchedLayout): Uint8Array {
  const L = compileLayout(layout);
  const dense = new Uint8Array(L.slots * L.rows * L.cols);
  for (let i = 0; i < L.slots * L.rows; i++) for (let e = L.kvPtr[i]; e < L.kvPtr[i + 1]; e++) dense[i * L.cols + L.kvIndices[e]] = 1;
  return dense;
}

S('a selection is held as its rows: selection, attention and attentionMass build no dense bytes and give the bits of a plain copy; data, read, is the selection', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(decodeDraws, drawn), async (d) => {
      const args = inputs(d);
      const label = JSON.stringify(d);
      const v = randomTensor([d.B, d.Hkv, d.Nk, d.D], mulberry32(d.seed + 1));
      const { q, k, causal, qOffset, keyLengths, scale } = args;
      const call = { q, k, v, causal, qOffset, keyLengths, scale };
      let layout!: BatchedLayout;
      let out!: Float32Array, outTwo!: Float32Array, mass!: Float32Array;
      const built = await densesBuilt(async () => {
        layout = await E.one.selectBlocks(args);
        assert.ok(selectedRows(layout), `${label}: held as rows`);
        out = (await E.one.attention({ ...call, layout })).data;
        outTwo = (await E.two.attention({ ...call, layout })).data;
        mass = (await E.one.attentionMass({ q, k, layout, causal, qOffset, keyLengths, scale })).data;
      });
      assert.is(built, 0, `${label}: dense bytes built`);
      const copy = { block: layout.block, shape: [...layout.shape] as BatchedLayout['shape'], data: layout.data.slice() };
      assert.equal(Array.from(layout.data), Array.from(rebuilt({ ...copy, data: copy.data.slice() })), `${label}: data against the copy's tables`);
      assert.equal(Array.from(rebuilt(layout)), Array.from(copy.data), `${label}: the rows' tables against the bytes`);
      assertSelection(layout, referenceSelectBlocks(args), label);
      assert.equal(out, (await E.one.attention({ ...call, layout: copy })).data, `${label}: attention`);
      assert.equal(outTwo, out, `${label}: attention, two threads`);
      assert.equal(mass, (await E.one.attentionMass({ q, k, layout: copy, causal, qOffset, keyLengths, scale })).data, `${label}: attentionMass`);
    }),
    { numRuns: 120, seed: 29 },
  );
});

S('a decode step over a KV cache reads no selection bytes: select, attention (1 and 2 threads, returnLse) and attentionMass with data unreadable', async () => {
  const rng = mulberry32(41);
  const [Hkv, H, D, block, N] = [2, 4, 16, 8, 300];
  const k = randomTensor([1, Hkv, N, D], rng);
  const v = randomTensor([1, Hkv, N, D], rng);
  for (const e of [E.one, E.two]) {
    const cache = await e.createKvCache({ batch: 1, kvHeads: Hkv, headDim: D, capacity: N + 40, summaryBlock: block });
    try {
      await cache.append({ k, v });
      for (const score of ['mean', 'bound'] as const) {
        const q = randomTensor([1, H, 1, D], rng);
        let layout!: BatchedLayout;
        let out!: { out: Tensor; lse: Tensor }, mass!: Tensor;
        const built = await densesBuilt(async () => {
          layout = await e.selectBlocks({ q, kv: cache, topK: 4, score, causal: true, keep: { first: 1, local: 1 } });
          const data = Object.getOwnPropertyDescriptor(layout, 'data')!;
          Object.defineProperty(layout, 'data', { get: () => assert.unreachable('the selection\'s data was read'), enumerable: true, configurable: true });
          out = (await e.attention({ q, kv: cache, layout, causal: true, returnLse: true })) as { out: Tensor; lse: Tensor };
          mass = await e.attentionMass({ q, k, layout, causal: true });
          Object.defineProperty(layout, 'data', data);
        });
        assert.is(built, 0, `${score}: dense bytes built`);
        const copy = { block: layout.block, shape: [...layout.shape] as BatchedLayout['shape'], data: layout.data.slice() };
        const want = (await e.attention({ q, kv: cache, layout: copy, causal: true, returnLse: true })) as { out: Tensor; lse: Tensor };
        assert.equal(out.out.data, want.out.data, `${score}: attention`);
        assert.equal(out.lse.data, want.lse.data, `${score}: lse`);
        assert.equal(mass.data, (await e.attentionMass({ q, k, layout: copy, causal: true })).data, `${score}: attentionMass`);
        assert.ok(copy.data.some((x) => x !== 0));
      }
    } finally {
      cache.destroy();
    }
  }
});

/**
 * Query blocks given a random ±1 direction each, planted in one key block not yet used (there is
 * always one among the r + 1 causal columns of block row r): the clear-gap case.
 */
function planted(seed: number, B: number, H: number, N: number, D: number, block: number) {
  const rng = mulberry32(seed);
  const q = randomTensor([B, H, N, D], rng, { min: -0.1, max: 0.1 });
  const k = randomTensor([B, H, N, D], rng, { min: -0.1, max: 0.1 });
  const R = N / block;
  const target = new Int32Array(B * H * R);
  for (let bh = 0; bh < B * H; bh++) {
    const used = new Set<number>();
    for (let r = 0; r < R; r++) {
      const free = Array.from({ length: r + 1 }, (_, c) => c).filter((c) => !used.has(c));
      const c = free[Math.floor(rng() * free.length)];
      used.add(c);
      target[bh * R + r] = c;
      const dir = Array.from({ length: D }, () => (rng() < 0.5 ? -1 : 1));
      for (let i = 0; i < block; i++) {
        for (let d = 0; d < D; d++) {
          q.data[((bh * N) + r * block + i) * D + d] += dir[d];
          k.data[((bh * N) + c * block + i) * D + d] += dir[d];
        }
      }
    }
  }
  return { q, k, target, R };
}

S('planted matches: topK 1 finds every planted block; the causal diagonal and first column are kept on request', async () => {
  const { q, k, target, R } = planted(5, 1, 2, 256, 64, 16);
  const got = await E.two.selectBlocks({ q, k, block: 16, topK: 1, causal: true });
  for (let t = 0; t < target.length; t++) assert.is(got.data[t * R + target[t]], 1, `row ${t}`);
  const kept = await E.two.selectBlocks({ q, k, block: 16, topK: 1, causal: true, keep: { diagonal: true, first: 1 } });
  for (let t = 0; t < target.length; t++) {
    const r = t % R;
    assert.is(kept.data[t * R + r], 1);
    assert.is(kept.data[t * R], 1);
    assert.ok(kept.data.subarray(t * R, t * R + R).reduce((a, b) => a + b, 0) <= 3);
    for (let c = r + 1; c < R; c++) assert.is(kept.data[t * R + c], 0, 'causal');
  }
  assertSelection(got, referenceSelectBlocks({ q, k, block: 16, topK: 1, causal: true }), 'planted');
});

S('ties go to the lower column; threshold 1 keeps every allowed block; topK past the row keeps them all', async () => {
  const q: Tensor = { data: new Float32Array(1 * 1 * 16 * 4).fill(1), shape: [1, 1, 16, 4] };
  const k: Tensor = { data: new Float32Array(1 * 1 * 16 * 4).fill(1), shape: [1, 1, 16, 4] };
  const got = await E.one.selectBlocks({ q, k, block: 4, topK: 2 });
  assert.equal(Array.from(got.data).join(''), '1100'.repeat(4));
  const all = await E.one.selectBlocks({ q: randomTensor([1, 1, 16, 4], mulberry32(3)), k, block: 4, threshold: 1, causal: true });
  assert.equal(Array.from(all.data).join(''), '1000110011101111');
  const many = await E.one.selectBlocks({ q, k, block: 4, topK: 99, keyLengths: Int32Array.of(9), qOffset: 0 });
  assert.equal(Array.from(many.data).join(''), '1110'.repeat(4));
  // counts past 32 bits are whole rows too
  const huge = await E.one.selectBlocks({ q, k, block: 4, topK: 2 ** 40, keep: { first: 2 ** 40, local: 2 ** 33 } });
  assert.equal(Array.from(huge.data).join(''), '1111'.repeat(4));
});

S('keep.local counts back from the block row, also where the queries sit past every key block', async () => {
  const rng = mulberry32(5);
  // 8 keys in 2 blocks of 4; one query at position 16 (block row 4): local 4 covers rows 0 … 3, both key blocks
  const q = randomTensor([1, 1, 1, 4], rng);
  const k = randomTensor([1, 1, 8, 4], rng);
  for (const local of [1, 2, 3, 4, 5, 2 ** 33]) {
    const args = { q, k, block: 4, topK: 1, causal: true, qOffset: 16, keep: { local } };
    const got = await E.one.selectBlocks(args);
    assert.equal([...got.shape], [1, 1, 5, 2]);
    if (local >= 4) assert.equal(Array.from(got.data.subarray(8, 10)).join(''), '11', `local ${local}`);
    assertSelection(got, referenceSelectBlocks(args), `local ${local}`);
  }
});

S('rows holding no query stay empty; partial blocks pool the rows they have', async () => {
  const rng = mulberry32(9);
  const q = randomTensor([2, 2, 5, 8], rng);
  const k = randomTensor([2, 1, 23, 8], rng);
  const args = { q, k, block: 8, topK: 2, causal: true, qOffset: Int32Array.of(0, 13), keyLengths: Int32Array.of(23, 17), keep: { diagonal: true } };
  const got = await E.one.selectBlocks(args);
  assert.equal([...got.shape], [2, 2, 3, 3]);
  // batch row 0's queries are at 0 … 4 (block row 0), batch row 1's at 13 … 17 (block rows 1, 2)
  for (const [b, r] of [[0, 1], [0, 2], [1, 0]]) for (let h = 0; h < 2; h++) {
    assert.equal(Array.from(got.data.subarray(((b * 2 + h) * 3 + r) * 3, ((b * 2 + h) * 3 + r + 1) * 3)).join(''), '000', `b ${b} r ${r}`);
  }
  assertSelection(got, referenceSelectBlocks(args), 'offsets');
});

S('float16 q and k select as their float32 values do', async () => {
  const rng = mulberry32(11);
  const q = randomTensor([1, 4, 40, 16], rng);
  const k = randomTensor([1, 2, 40, 16], rng);
  const hq = halfTensor(q);
  const hk = halfTensor(k);
  const { fromFloat16 } = await import('../src/float16.js');
  const asF32 = (t: ReturnType<typeof halfTensor>): Tensor => ({ data: fromFloat16(t.data as Uint16Array), shape: [...t.shape] });
  const got = await E.one.selectBlocks({ q: hq, k: hk, block: 8, threshold: 0.7, causal: true });
  assert.equal(got.data, (await E.one.selectBlocks({ q: asF32(hq), k: asF32(hk), block: 8, threshold: 0.7, causal: true })).data);
});

S('keepOnDevice: a DeviceLayout that attention takes, read() gives the layout, destroy() ends it', async () => {
  const rng = mulberry32(13);
  const q = randomTensor([1, 2, 48, 8], rng);
  const k = randomTensor([1, 1, 48, 8], rng);
  const v = randomTensor([1, 1, 48, 8], rng);
  const args = { q, k, block: 16, topK: 1, causal: true };
  const host = await E.one.selectBlocks(args);
  const [dq, dk] = [await E.one.upload(q), await E.one.upload(k)];
  assert.equal((await E.one.selectBlocks({ ...args, q: dq, k: dk })).data, host.data, 'DeviceTensor q and k');
  const held = await E.one.selectBlocks({ ...args, keepOnDevice: true });
  assert.is(held.backend, 'cpu');
  assert.equal([...held.shape], [...host.shape]);
  assert.equal((await held.read()).data, host.data);
  const viaHost = await E.one.attention({ q, k, v, layout: host, causal: true });
  const viaHeld = await E.one.attention({ q, k, v, layout: held, causal: true });
  assert.equal(viaHeld.data, viaHost.data);
  assertClose(viaHost.data, referenceAttention({ q, k, v, layout: host, causal: true }), { label: 'attention over a selected layout' });
  try {
    await E.two.attention({ q, k, v, layout: held, causal: true });
    assert.unreachable('another engine took it');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /layout is a DeviceLayout of another engine/);
  }
  // one layout head per query head of the selecting call, as WebGPU holds it: not read through h % Hl
  const q4 = randomTensor([1, 4, 48, 8], rng);
  for (const call of [() => E.one.attention({ q: q4, k, v, layout: held, causal: true }), () => E.one.attentionBackward({ q: q4, k, v, layout: held, dout: q4, causal: true })]) {
    try {
      await call();
      assert.unreachable('a DeviceLayout of 2 heads served 4');
    } catch (e) {
      assert.instance(e, RangeError);
      assert.match((e as Error).message, /^layout\.shape\[1\] \(H: a DeviceLayout holds one layout head per query head\) must equal 4, got 2$/);
    }
  }
  assert.ok(Array.from(await E.one.attention({ q: q4, k, v, layout: host, causal: true }).then((o) => o.data)).every(Number.isFinite), 'the host layout is read through h % Hl');
  held.destroy();
  assert.ok(held.destroyed);
  try {
    await E.one.attention({ q, k, v, layout: held, causal: true });
    assert.unreachable('a destroyed layout was taken');
  } catch (e) {
    assert.match((e as Error).message, /layout is a destroyed DeviceLayout/);
  }
  const e = await createEngine({ backend: 'cpu', threads: 1 });
  const closing = await e.selectBlocks({ ...args, keepOnDevice: true });
  await e.close();
  assert.ok(closing.destroyed, 'closed with its engine');
});

S('attentionMass equals the float64 share: 1 for a dense layout, the reference share for selected and static layouts', async () => {
  const rng = mulberry32(21);
  for (const [B, Hkv, ratio, Nq, Nk, block, causal, qOffset, keyLengths] of [
    [1, 1, 1, 64, 64, 16, true, undefined, undefined],
    [2, 1, 4, 20, 50, 8, true, Int32Array.of(30, 3), Int32Array.of(50, 31)],
    [1, 2, 2, 33, 33, 16, false, 0, undefined],
  ] as [number, number, number, number, number, number, boolean, Int32Array | number | undefined, Int32Array | undefined][]) {
    const q = randomTensor([B, Hkv * ratio, Nq, 8], rng, { min: -2, max: 2 });
    const k = randomTensor([B, Hkv, Nk, 8], rng, { min: -2, max: 2 });
    const common = { q, k, causal, qOffset, keyLengths };
    const R = Math.ceil((Math.max(...(qOffset instanceof Int32Array ? qOffset : [qOffset ?? Nk - Nq])) + Nq) / block);
    const C = Math.ceil(Nk / block);
    const dense: Layout = { block, shape: [1, R, C], data: new Uint8Array(R * C).fill(1) };
    const one = await E.one.attentionMass({ ...common, layout: dense });
    assert.equal([...one.shape], [B, Hkv * ratio, Nq]);
    // its timings are both passes': the kernels of each, summed
    const t = E.one.lastTimings!;
    assert.is(t.op, 'attentionMass');
    assert.ok(t.kernelMs! > 0 && t.kernelMs! <= t.wallMs && t.kernels!.length >= 2, `kernelMs ${t.kernelMs} of ${t.wallMs} ms, ${t.kernels?.length} kernels`);
    assert.is(E.one.lastTimings?.op, 'attentionMass');
    for (const m of one.data) assert.ok(Math.abs(m - 1) < 1e-6, `dense mass ${m}`);
    const selected = await E.one.selectBlocks({ ...common, block, topK: 1 });
    const strided: Layout = { block, shape: [1, R, C], data: Uint8Array.from({ length: R * C }, (_, i) => +(i % 3 === 0)) };
    for (const layout of [selected, strided]) {
      const got = await E.one.attentionMass({ ...common, layout });
      const ref = referenceAttentionMass({ ...common, layout });
      assertClose(got.data, ref, { label: `mass over a ${layout === selected ? 'selected' : 'strided'} layout` });
      assert.ok(ref.some((m) => m > 0.01 && m < 0.99), 'a case with a partial share');
      assert.equal((await E.two.attentionMass({ ...common, layout })).data, got.data, 'two threads');
    }
  }
});

S.run();
