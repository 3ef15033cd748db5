// A KV cache's key summaries (createKvCache's summaryBlock) and selectBlocks over a cache on the CPU:
// the summaries against the float64 reference (test/reference/key-summaries.ts) after appends that
// cross block boundaries, after resets, for a float16 cache; selectBlocks over the cache (kv) the
// same bytes as over its keys as a tensor (k), for both scores, read from the summaries or pooled on
// the fly, for every thread count; the bound score an upper bound of every q·k of its block for one
// query row; the layout read by attention over the cache (its compiled tables those of a copy of its
// bytes, its output the bits of attention over the copy); bad input, after which the engine still works.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { forceTaskCount } from '../src/cpu/tasks.js';
import { fromFloat16 } from '../src/float16.js';
import type { KvCacheHandle } from '../src/kv-cache.js';
import { selectBlocksProblem } from '../src/select-blocks.js';
import type { Engine } from '../src/engine.js';
import type { KvCache, SelectBlocksArgs, Tensor } from '../src/types.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import { halfTensor } from './helpers/float16.js';
import { assertSelection, selectionSizes } from './helpers/selection.js';
import { assertCompiledAsCopy } from './helpers/compiled.js';
import {
  assertClose, mulberry32, randomTensor, referenceAttention, referenceKeySummaries, referenceSelectBlocks, type Rng,
} from './reference/index.js';

const S = suite('KV cache key summaries and selectBlocks over a cache (cpu)');
const E = cpuEngines(S);

/** Tokens from … to − 1 of every head of t [B, H, N, D], as [B, H, to − from, D]. */
function tokens(t: Tensor, from: number, to: number): Tensor {
  const [B, H, N, D] = t.shape;
  const out = new Float32Array(B * H * (to - from) * D);
  for (let h = 0; h < B * H; h++) out.set(t.data.subarray((h * N + from) * D, (h * N + to) * D), h * (to - from) * D);
  return { data: out, shape: [B, H, to - from, D] };
}

/** The cache's summaries of its first `length` tokens, [B·Hkv, ceil(length / block), D] each. */
async function summaries(cache: KvCache, length: number) {
  const s = (cache as KvCacheHandle).data.summaries;
  if (!s) throw new Error('the cache keeps no summaries');
  const C = Math.ceil(length / s.block);
  const D = cache.headDim;
  const cut = (all: Float32Array) => {
    const out = new Float32Array(cache.batch * cache.kvHeads * C * D);
    for (let h = 0; h < cache.batch * cache.kvHeads; h++) out.set(all.subarray(h * s.blocks * D, (h * s.blocks + C) * D), h * C * D);
    return out;
  };
  return { mean: cut((await s.mean.read()) as Float32Array), min: cut((await s.min.read()) as Float32Array), max: cut((await s.max.read()) as Float32Array) };
}

/** The cache's summaries equal the reference's over keys k [B, Hkv, length, D]: min and max exactly, the mean within the CPU tolerance. */
async function assertSummaries(cache: KvCache, k: Tensor, label: string): Promise<void> {
  const length = k.shape[2];
  const got = await summaries(cache, length);
  const ref = referenceKeySummaries(k, cache.summaryBlock!);
  assert.equal(Array.from(got.min), Array.from(ref.min), `${label}: min`);
  assert.equal(Array.from(got.max), Array.from(ref.max), `${label}: max`);
  assertClose(got.mean, ref.mean, { label: `${label}: mean` });
}

interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  D: number;
  block: number;
  /** Append sizes, in order; a 0 resets the cache there. */
  appends: number[];
  Nq: number;
  rule: { topK: number } | { threshold: number };
  score: 'mean' | 'bound';
  causal: boolean;
  /** Select with the summaries' block, or another (pooled on the fly). */
  otherBlock: boolean;
  lengths: boolean;
  seed: number;
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  ...selectionSizes,
  appends: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 6 }),
  Nq: fc.integer({ min: 1, max: 3 }),
  rule: fc.oneof(fc.record({ topK: fc.integer({ min: 1, max: 6 }) }), fc.record({ threshold: fc.constantFrom(0.3, 0.8, 1) })),
  score: fc.constantFrom('mean' as const, 'bound' as const),
  causal: fc.boolean(),
  otherBlock: fc.boolean(),
  lengths: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

/** Same bytes from every engine and a forced split of three tasks; returns engine one's. */
async function sameEverywhere(args: SelectBlocksArgs, caches: KvCache[], label: string) {
  const engines = [E.one, E.relaxed, E.two];
  const got = [];
  for (let i = 0; i < engines.length; i++) got.push(await engines[i].selectBlocks({ ...args, kv: caches[i] }));
  assert.equal(got[2].data, got[0].data, `${label}: two threads`);
  forceTaskCount(3);
  try {
    assert.equal((await E.two.selectBlocks({ ...args, kv: caches[2] })).data, got[0].data, `${label}: three tasks`);
  } finally {
    forceTaskCount(undefined);
  }
  return got;
}

S('summaries after appends across block boundaries and resets equal the reference; kv selects as k does, for every thread count', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      const rng = mulberry32(d.seed);
      const total = d.appends.reduce((a, b) => a + b, 0) + 1;
      const Hq = d.Hkv * d.ratio;
      const engines = [E.one, E.relaxed, E.two];
      const caches = await Promise.all(engines.map((e) => e.createKvCache({ batch: d.B, kvHeads: d.Hkv, headDim: d.D, capacity: total, summaryBlock: d.block })));
      try {
        // every token appended, in order; `held` the ones after the last reset
        let held: Tensor = { data: new Float32Array(0), shape: [d.B, d.Hkv, 0, d.D] };
        for (const n of [...d.appends, 1]) {
          if (n === 0) {
            for (const c of caches) c.reset();
            held = { data: new Float32Array(0), shape: [d.B, d.Hkv, 0, d.D] };
            continue;
          }
          const k = randomTensor([d.B, d.Hkv, n, d.D], rng);
          const v = randomTensor([d.B, d.Hkv, n, d.D], rng);
          await Promise.all(caches.map((c) => c.append({ k, v })));
          const L = held.shape[2] + n;
          const joined = new Float32Array(d.B * d.Hkv * L * d.D);
          for (let h = 0; h < d.B * d.Hkv; h++) {
            joined.set(held.data.subarray(h * (L - n) * d.D, (h + 1) * (L - n) * d.D), h * L * d.D);
            joined.set(k.data.subarray(h * n * d.D, (h + 1) * n * d.D), (h * L + L - n) * d.D);
          }
          held = { data: joined, shape: [d.B, d.Hkv, L, d.D] };
        }
        const label = JSON.stringify(d);
        await assertSummaries(caches[0], held, label);
        const L = held.shape[2];
        const q = randomTensor([d.B, Hq, d.Nq, d.D], rng);
        const block = d.otherBlock ? d.block + 3 : undefined;
        const keyLengths = d.lengths ? Int32Array.from({ length: d.B }, () => 1 + Math.floor(rng() * L)) : undefined;
        const qOffset = Math.min(...(keyLengths ?? [L])) < d.Nq ? 0 : undefined; // the default, length − Nq, must not be negative
        const args = { q, block, causal: d.causal, score: d.score, keyLengths, qOffset, ...d.rule };
        const fromSummaries = !d.otherBlock && (keyLengths ?? [L]).every((n) => n === L || n % d.block === 0);
        assert.is(selectBlocksProblem({ ...args, kv: caches[0] }, E.one).summaries !== undefined, fromSummaries, `${label}: read from the summaries`);
        const [one, relaxed] = await sameEverywhere(args, caches, label);
        const viaK = { ...args, k: held, block: block ?? d.block };
        assert.equal(one.data, (await E.one.selectBlocks(viaK)).data, `${label}: kv and k`);
        assert.equal(relaxed.data, (await E.relaxed.selectBlocks(viaK)).data, `${label}: kv and k (relaxed)`);
        assertSelection(one, referenceSelectBlocks(viaK), label);
        // attention over the cache reads the selection's own compile (its active rows alone): the bits of a copy's
        const call = { q, kv: caches[0], causal: d.causal, keyLengths, qOffset };
        const want = await E.one.attention({ ...call, layout: { ...one, data: one.data.slice() } });
        assert.equal((await E.one.attention({ ...call, layout: one })).data, want.data, `${label}: attention over the selection`);
        assertCompiledAsCopy(one, label);
        assertCompiledAsCopy(relaxed, `${label} (relaxed)`);
      } finally {
        for (const c of caches) c.destroy();
      }
    }),
    { numRuns: 80, seed: 29 },
  );
});

S('a float16 cache summarises its stored half keys; kv selects as float16 k does', async () => {
  const rng = mulberry32(31);
  const [B, Hkv, Hq, D, N, block] = [1, 2, 4, 16, 70, 8];
  const k = halfTensor(randomTensor([B, Hkv, N, D], rng));
  const v = halfTensor(randomTensor([B, Hkv, N, D], rng));
  const q = halfTensor(randomTensor([B, Hq, 1, D], rng));
  const cache = await E.two.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: 80, dtype: 'float16', summaryBlock: block });
  const half = (t: typeof k, from: number, to: number) => {
    const part = tokens({ data: Float32Array.from(t.data as Uint16Array), shape: [...t.shape] }, from, to);
    return { data: Uint16Array.from(part.data), shape: part.shape, dtype: 'float16' as const };
  };
  for (const [from, to] of [[0, 3], [3, 21], [21, 70]]) await cache.append({ k: half(k, from, to), v: half(v, from, to) });
  await assertSummaries(cache, { data: fromFloat16(k.data as Uint16Array), shape: [...k.shape] }, 'float16');
  for (const score of ['mean', 'bound'] as const) {
    const viaKv = await E.two.selectBlocks({ q, kv: cache, topK: 2, causal: true, score });
    assert.equal(viaKv.data, (await E.two.selectBlocks({ q, k, block, topK: 2, causal: true, score })).data, score);
  }
  cache.destroy();
});

S('after a reset, the summaries hold only the tokens appended since', async () => {
  const rng = mulberry32(37);
  const cache = await E.one.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 32, summaryBlock: 8 });
  assert.is(cache.summaryBlock, 8);
  const big = randomTensor([1, 1, 20, 4], rng, { min: 5, max: 9 });
  await cache.append({ k: big, v: big });
  cache.reset();
  const small = randomTensor([1, 1, 3, 4], rng);
  await cache.append({ k: small, v: small });
  await assertSummaries(cache, small, 'after reset');
  const plain = await E.one.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 32 });
  assert.is(plain.summaryBlock, null);
  cache.destroy();
  plain.destroy();
});

/** Keys [1, 1, n, D] and one query row, their dot products spread (the bound is checked where it bites). */
function boundCase(rng: Rng, n: number, D: number) {
  return { q: randomTensor([1, 1, 1, D], rng, { min: -3, max: 3 }), k: randomTensor([1, 1, n, D], rng, { min: -3, max: 3 }) };
}

S('bound: for one query row, every block\'s bound is at least every q·k·scale of its keys (float64), and the CPU selects as the reference', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({ n: fc.integer({ min: 1, max: 120 }), D: fc.constantFrom(1, 5, 16, 33), block: fc.constantFrom(1, 3, 8, 16), scale: fc.constantFrom(undefined, 0.5, 3), seed: fc.integer({ min: 1, max: 2 ** 30 }) }),
      async ({ n, D, block, scale, seed }) => {
        const { q, k } = boundCase(mulberry32(seed), n, D);
        const s = scale ?? 1 / Math.sqrt(D);
        const ref = referenceSelectBlocks({ q, k, block, topK: 1, score: 'bound', scale });
        const C = Math.ceil(n / block);
        const R = ref.shape[2];
        const row = (R - 1) * C; // the one block row holding the query
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q.data[d] * k.data[j * D + d];
          const c = Math.floor(j / block);
          assert.ok(ref.scores[row + c] >= dot * s, `key ${j}: bound ${ref.scores[row + c]} < q·k·scale ${dot * s}`);
        }
        const topK = Math.min(3, C);
        const args = { q, k, block, topK, score: 'bound' as const, scale };
        assertSelection(await E.one.selectBlocks(args), referenceSelectBlocks(args), `n ${n} D ${D} block ${block}`);
      },
    ),
    { numRuns: 150, seed: 41 },
  );
});

S('a layout selected over the cache plugs into attention over the cache', async () => {
  const rng = mulberry32(43);
  const [Hkv, Hq, D, N, block] = [2, 4, 8, 45, 8];
  const k = randomTensor([1, Hkv, N, D], rng);
  const v = randomTensor([1, Hkv, N, D], rng);
  const q = randomTensor([1, Hq, 1, D], rng);
  const cache = await E.one.createKvCache({ batch: 1, kvHeads: Hkv, headDim: D, capacity: 64, summaryBlock: block });
  await cache.append({ k: tokens(k, 0, 40), v: tokens(v, 0, 40) });
  await cache.append({ k: tokens(k, 40, N), v: tokens(v, 40, N) });
  for (const score of ['mean', 'bound'] as const) {
    const layout = await E.one.selectBlocks({ q, kv: cache, topK: 2, causal: true, score, keep: { local: 1 } });
    assert.equal([...layout.shape], [1, Hq, Math.ceil(N / block), Math.ceil(N / block)]);
    const out = await E.one.attention({ q, kv: cache, layout, causal: true });
    assertClose(out.data, referenceAttention({ q, k, v, layout, causal: true }), { label: `attention over a ${score} selection` });
    const held = await E.one.selectBlocks({ q, kv: cache, topK: 2, causal: true, score, keep: { local: 1 }, keepOnDevice: true });
    assert.equal((await E.one.attention({ q, kv: cache, layout: held, causal: true })).data, out.data, 'a DeviceLayout');
    held.destroy();
  }
  cache.destroy();
});

async function rejects(p: Promise<unknown> | (() => unknown), type: ErrorConstructor, pattern: RegExp, label: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, type, `${label}: ${String(e)}`);
    assert.match((e as Error).message, pattern, label);
    return;
  }
  assert.unreachable(`${label}: did not reject`);
}

S('bad input: k and kv, neither, no block, a bad block, score or summaryBlock; the engine stays usable', async () => {
  const e: Engine = E.one;
  const rng = mulberry32(47);
  const k = randomTensor([1, 1, 16, 4], rng);
  const q = randomTensor([1, 1, 1, 4], rng);
  const cache = await e.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 16, summaryBlock: 4 });
  const plain = await e.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 16 });
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1 }), RangeError, /kv holds no tokens/, 'empty cache');
  await cache.append({ k, v: k });
  await plain.append({ k, v: k });
  await rejects(e.selectBlocks({ q, k, kv: cache, topK: 1 }), TypeError, /pass either k or kv to selectBlocks, not both/, 'k and kv');
  await rejects(e.selectBlocks({ q, topK: 1 } as SelectBlocksArgs), TypeError, /selectBlocks needs keys: pass k .* or kv/, 'neither');
  await rejects(e.selectBlocks({ q, kv: plain, topK: 1 }), TypeError, /^block must be a positive integer/, 'no block, no summaries');
  await rejects(e.selectBlocks({ q, kv: cache, block: 0, topK: 1 }), RangeError, /^block must be a positive integer/, 'block 0');
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1, score: 'max' as 'mean' }), RangeError, /^score must be 'mean' or 'bound', got 'max'/, 'score');
  await rejects(e.selectBlocks({ q, kv: {} as KvCache, topK: 1 }), TypeError, /^kv must be a KvCache/, 'not a cache');
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1, keyLengths: Int32Array.of(17) }), RangeError, /keyLengths\[0\] must be in \[0, 16\] \(kv\.length/, 'keyLengths past the cache');
  await rejects(E.two.selectBlocks({ q, kv: cache, topK: 1 }), TypeError, /KvCache of another engine/, 'foreign cache');
  for (const [summaryBlock, type] of [[0, RangeError], [1.5, TypeError], ['8', TypeError]] as const) {
    await rejects(e.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 16, summaryBlock: summaryBlock as number }), type, /^summaryBlock must be a positive integer/, `summaryBlock ${summaryBlock}`);
  }
  // a block other than the summaries' pools the keys on the fly: fine
  assert.equal((await e.selectBlocks({ q, kv: cache, block: 8, topK: 1 })).data, (await e.selectBlocks({ q, k, block: 8, topK: 1 })).data, 'block 8 over summaries of 4');
  assert.equal((await e.selectBlocks({ q, kv: cache, topK: 1 })).data, (await e.selectBlocks({ q, kv: plain, block: 4, topK: 1 })).data, 'after the refusals');
  cache.destroy();
  plain.destroy();
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1 }), TypeError, /destroyed KvCache/, 'destroyed');
});

S.run();
