// A decode step's selection kept on the CPU (selectBlocks with keepOnDevice over a KV cache's key
// summaries) is made by the attention that reads it, in the same kernel call (src/cpu/held-selection.ts,
// decode-selected.ts): its bytes, out and lse are bitwise those of selectBlocks followed by attention,
// over shapes, rules and thread counts; it stays the selection of the call that asked when q, the
// cache (appends, destroy) or the attention's q change before it is made; the backward, read(),
// destroy() and close() take it as any DeviceLayout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { forceTaskCount } from '../src/cpu/tasks.js';
import type { Engine } from '../src/engine.js';
import type { DeviceLayout, KvCache, Tensor } from '../src/types.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import { selectionSizes } from './helpers/selection.js';
import { assertClose, mulberry32, randomTensor, referenceAttention, type Rng } from './reference/index.js';

const S = suite('a decode step\'s held selection, made by its attention (cpu)');
const E = cpuEngines(S);

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const kernelsRun = (e: Engine) => (e.lastTimings?.kernels ?? []).map((k) => k.kernel);

/** A cache of `n` random tokens [B, Hkv, n, D] (returned too), keeping summaries of `block`. */
async function filled(e: Engine, rng: Rng, B: number, Hkv: number, D: number, n: number, block: number, capacity = n + 8) {
  const k = randomTensor([B, Hkv, n, D], rng);
  const v = randomTensor([B, Hkv, n, D], rng);
  const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity, summaryBlock: block });
  await cache.append({ k, v });
  return { cache, k, v };
}

interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  D: number;
  block: number;
  n: number;
  Nq: number;
  offset: boolean;
  rule: { topK: number } | { threshold: number };
  score: 'mean' | 'bound';
  causal: boolean;
  /** The attention's causal flag and the selection's scale, drawn apart from the selection's and the attention's. */
  attnCausal: boolean;
  selScale: number | undefined;
  keep: { first?: number; local?: number; diagonal?: boolean };
  lse: boolean;
  seed: number;
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  ...selectionSizes,
  n: fc.integer({ min: 1, max: 300 }),
  Nq: fc.integer({ min: 1, max: 16 }),
  offset: fc.boolean(),
  rule: fc.oneof(fc.record({ topK: fc.integer({ min: 1, max: 6 }) }), fc.record({ threshold: fc.constantFrom(0.3, 0.8, 1) })),
  score: fc.constantFrom('mean' as const, 'bound' as const),
  causal: fc.boolean(),
  attnCausal: fc.boolean(),
  selScale: fc.constantFrom(undefined, 0.5),
  keep: fc.record({ first: fc.integer({ min: 0, max: 2 }), local: fc.integer({ min: 0, max: 2 }), diagonal: fc.boolean() }, { requiredKeys: [] }),
  lse: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

S('made in the attention\'s call: the bytes, out and lse of selectBlocks then attention, on every engine and split', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      const label = JSON.stringify(d);
      const rng = mulberry32(d.seed);
      const Hq = d.Hkv * d.ratio;
      const Nq = Math.min(d.Nq, d.n);
      // queries at their default place (the cache's last Nq positions), or anywhere they fit
      const qOffset = d.offset ? Int32Array.from({ length: d.B }, () => Math.floor(rng() * (d.n - Nq + 1))) : undefined;
      const q = randomTensor([d.B, Hq, Nq, d.D], rng);
      for (const [e, tasks] of [[E.one, undefined], [E.relaxed, undefined], [E.two, undefined], [E.two, 3]] as const) {
        const { cache } = await filled(e, mulberry32(d.seed + 1), d.B, d.Hkv, d.D, d.n, d.block);
        forceTaskCount(tasks);
        try {
          const args = { q, kv: cache, qOffset, causal: d.causal, score: d.score, keep: d.keep, scale: d.selScale, ...d.rule };
          const call = { q, kv: cache, qOffset, causal: d.attnCausal, returnLse: d.lse ? (true as const) : undefined };
          const plain = await e.selectBlocks(args);
          const want = await e.attention({ ...call, layout: plain });
          const held = await e.selectBlocks({ ...args, keepOnDevice: true });
          const got = await e.attention({ ...call, layout: held });
          const where = `${label} on ${e === E.one ? 'one' : e === E.relaxed ? 'relaxed' : 'two'}${tasks ? ` with ${tasks} tasks` : ''}`;
          assert.ok(kernelsRun(e).includes('decodeSelected'), `${where}: made in the attention's call (${kernelsRun(e)})`);
          const outOf = (x: unknown) => (d.lse ? (x as { out: Tensor }).out : (x as Tensor));
          const lseOf = (x: unknown) => (x as { lse: Tensor }).lse;
          const [wantOut, gotOut] = [outOf(want), outOf(got)];
          assert.equal(bits(gotOut.data), bits(wantOut.data), `${where}: out`);
          if (d.lse) assert.equal(bits(lseOf(got).data), bits(lseOf(want).data), `${where}: lse`);
          assert.equal((await held.read()).data, plain.data, `${where}: read()`);
          // read again by a second attention, now from the made rows
          const again = await e.attention({ ...call, layout: held });
          assert.equal(bits(outOf(again).data), bits(wantOut.data), `${where}: a second attention`);
          held.destroy();
        } finally {
          forceTaskCount(undefined);
          cache.destroy();
        }
      }
    }),
    { numRuns: 60, seed: 53 },
  );
});

S('the selection of the call that asked: q changed, tokens appended, a reset, the cache destroyed, another q attending', async () => {
  const e = E.two;
  const rng = mulberry32(59);
  const [B, Hkv, Hq, D, n, block] = [1, 2, 4, 16, 70, 8];
  const args = (q: Tensor, kv: KvCache) => ({ q, kv, topK: 2, causal: true, keep: { local: 1 } });
  // q changed after the call: the selection is of the q it was given
  {
    const { cache } = await filled(e, rng, B, Hkv, D, n, block);
    const q = randomTensor([B, Hq, 1, D], rng);
    const plain = await e.selectBlocks(args(q, cache));
    const held = await e.selectBlocks({ ...args(q, cache), keepOnDevice: true });
    const before = Float32Array.from(q.data);
    q.data.set(randomTensor([B, Hq, 1, D], rng).data);
    assert.equal((await held.read()).data, plain.data, 'q changed');
    q.data.set(before);
    cache.destroy();
  }
  // tokens appended before the attention: made over the keys it was asked about, then read by an
  // attention over the longer cache (the same block columns)
  {
    const { cache, k, v } = await filled(e, rng, B, Hkv, D, n - 3, block);
    const q = randomTensor([B, Hq, 1, D], rng);
    const plain = await e.selectBlocks(args(q, cache));
    const held = await e.selectBlocks({ ...args(q, cache), keepOnDevice: true });
    const more = { k: randomTensor([B, Hkv, 2, D], rng), v: randomTensor([B, Hkv, 2, D], rng) };
    await cache.append(more);
    assert.equal((await held.read()).data, plain.data, 'appended: the selection before the append');
    const out = await e.attention({ q, kv: cache, layout: held, causal: true, qOffset: n - 4 });
    assert.equal(bits(out.data), bits((await e.attention({ q, kv: cache, layout: plain, causal: true, qOffset: n - 4 })).data), 'appended: attention');
    const join = (a: Tensor, b: Tensor) => {
      const data = new Float32Array(a.data.length + b.data.length);
      for (let h = 0; h < B * Hkv; h++) {
        data.set(a.data.subarray(h * (n - 3) * D, (h + 1) * (n - 3) * D), h * (n - 1) * D);
        data.set(b.data.subarray(h * 2 * D, (h + 1) * 2 * D), (h * (n - 1) + n - 3) * D);
      }
      return { data, shape: [B, Hkv, n - 1, D] };
    };
    const ref = referenceAttention({ q, k: join(k, more.k), v: join(v, more.v), layout: plain, causal: true, qOffset: Int32Array.of(n - 4) });
    assertClose(out.data, ref, { label: 'appended: against the reference' });
    cache.destroy();
  }
  // a reset, then other tokens appended: made over the keys before the reset
  {
    const { cache } = await filled(e, rng, B, Hkv, D, n, block);
    const q = randomTensor([B, Hq, 1, D], rng);
    const plain = await e.selectBlocks(args(q, cache));
    const held = await e.selectBlocks({ ...args(q, cache), keepOnDevice: true });
    cache.reset();
    await cache.append({ k: randomTensor([B, Hkv, 20, D], rng), v: randomTensor([B, Hkv, 20, D], rng) });
    assert.equal((await held.read()).data, plain.data, 'reset, then appended');
    cache.destroy();
  }
  // the cache destroyed before anything read the selection: made first
  {
    const { cache } = await filled(e, rng, B, Hkv, D, n, block);
    const q = randomTensor([B, Hq, 1, D], rng);
    const plain = await e.selectBlocks(args(q, cache));
    const held = await e.selectBlocks({ ...args(q, cache), keepOnDevice: true });
    cache.destroy();
    assert.equal((await held.read()).data, plain.data, 'cache destroyed');
  }
  // another q attends over the selection: the selection is q's, the attention q2's
  {
    const { cache } = await filled(e, rng, B, Hkv, D, n, block);
    const q = randomTensor([B, Hq, 1, D], rng);
    const q2 = randomTensor([B, Hq, 1, D], rng);
    const plain = await e.selectBlocks(args(q, cache));
    const held = await e.selectBlocks({ ...args(q, cache), keepOnDevice: true });
    const out = await e.attention({ q: q2, kv: cache, layout: held, causal: true });
    assert.ok(kernelsRun(e).includes('decodeSelected'), 'another q: made in the call');
    assert.equal(bits(out.data), bits((await e.attention({ q: q2, kv: cache, layout: plain, causal: true })).data), 'another q');
    cache.destroy();
  }
});

S('an attention that cannot make it (keyLengths, keys as tensors, the backward) reads it made; destroy and close end it', async () => {
  const e = E.one;
  const rng = mulberry32(61);
  const [B, Hkv, Hq, D, n, block] = [2, 1, 2, 8, 50, 8];
  const { cache, k, v } = await filled(e, rng, B, Hkv, D, n, block);
  const q = randomTensor([B, Hq, 1, D], rng);
  const args = { q, kv: cache, threshold: 0.8, causal: true };
  const plain = await e.selectBlocks(args);
  let held: DeviceLayout = await e.selectBlocks({ ...args, keepOnDevice: true });
  const keyLengths = Int32Array.of(n, 41);
  const masked = await e.attention({ q, kv: cache, layout: held, causal: true, keyLengths, qOffset: Int32Array.of(n - 1, 40) });
  assert.not.ok(kernelsRun(e).includes('decodeSelected'), 'keyLengths: not made in the call');
  assert.equal(bits(masked.data), bits((await e.attention({ q, kv: cache, layout: plain, causal: true, keyLengths, qOffset: Int32Array.of(n - 1, 40) })).data), 'keyLengths');
  held.destroy();
  held = await e.selectBlocks({ ...args, keepOnDevice: true });
  const call = { q, k, v, causal: true, qOffset: n - 1 };
  assert.equal(bits((await e.attention({ ...call, layout: held })).data), bits((await e.attention({ ...call, layout: plain })).data), 'keys as tensors');
  held.destroy();
  held = await e.selectBlocks({ ...args, keepOnDevice: true });
  const dout = randomTensor([B, Hq, 1, D], rng);
  const g = await e.attentionBackward({ ...call, dout, layout: held });
  const want = await e.attentionBackward({ ...call, dout, layout: plain });
  assert.equal(bits(g.dq.data), bits(want.dq.data), 'backward dq');
  assert.equal(bits(g.dk.data), bits(want.dk.data), 'backward dk');
  held.destroy();
  held = await e.selectBlocks({ ...args, keepOnDevice: true });
  held.destroy();
  try {
    await e.attention({ q, kv: cache, layout: held, causal: true });
    assert.unreachable('a destroyed held selection was read');
  } catch (err) {
    assert.instance(err, TypeError);
    assert.match((err as Error).message, /destroyed DeviceLayout/);
  }
  assert.equal(bits((await e.attention({ q, kv: cache, layout: plain, causal: true })).data), bits((await e.attention({ q, kv: cache, layout: plain, causal: true })).data), 'usable after');
  cache.destroy();
  // an engine closed with selections still waiting closes
  const other = await (await import('../src/engine.js')).createEngine({ backend: 'cpu', threads: 2 });
  const { cache: c2 } = await filled(other, rng, 1, 1, 8, 40, 8);
  await other.selectBlocks({ q: randomTensor([1, 1, 1, 8], rng), kv: c2, topK: 1, keepOnDevice: true });
  await other.close();
});

S.run();
