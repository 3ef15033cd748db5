// KV cache cases shared by the Node suite (CPU engines) and the Deno suite (WebGPU): a fast-check
// property over random sequences of appends, each followed by an attention over the cache that must
// equal the same call with k, v tensors of the cached tokens bit for bit and the float64 reference
// within the backend's tolerance; the lifecycle (reset, destroy, close); and every refusal.
import fc from 'fast-check';
import type { Engine } from '../../src/engine.js';
import type { AttentionWithLse, BatchedLayout, DeviceTensor, KvCache, Layout, Tensor } from '../../src/types.js';
import { assertClose, assertSameBits, CPU_TOL, GPU_TOL } from './assert-close.js';
import { mulberry32, pick, randomInt, randomLayout, randomTensor, type Rng } from './random.js';
import { referenceAttention, referenceLse } from '../reference/attention.js';

const tol = (engine: Engine) => (engine.backend === 'webgpu' ? GPU_TOL : CPU_TOL);

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function rejects(p: Promise<unknown> | (() => unknown), type: ErrorConstructor, pattern: RegExp, label: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    check(e instanceof type, `${label}: expected a ${type.name}, got ${String(e)}`);
    check(pattern.test((e as Error).message), `${label}: message "${(e as Error).message}" does not match ${pattern}`);
    return;
  }
  throw new Error(`${label}: did not reject`);
}

/** One append and the attention after it. */
export interface KvStep {
  /** Tokens appended (clipped to 3·block and to the room left). */
  n: number;
  /** Append from DeviceTensors of engine.upload (destroyed right after: the cache holds a copy). */
  device: boolean;
  /** 'decode': Nq 1…16 of the last positions; 'chunk': the tokens just appended as queries (prefill). */
  query: 'decode' | 'chunk';
  causal: boolean;
  /** qOffset left to its default (length − Nq, keyLengths[b] − Nq), one number, or one per batch row. */
  offset: 'default' | 'number' | 'rows';
  ragged: boolean;
  /** A layout per batch row [B, Hl, R, C]. */
  batched: boolean;
  returnLse: boolean;
  keepOnDevice: boolean;
}

export interface KvDrawn {
  B: number;
  Hkv: number;
  /** Hq / Hkv. */
  ratio: number;
  D: number;
  block: number;
  /** capacity = blocks·block − short: a partial last block when short > 0. */
  blocks: number;
  short: number;
  /** Layout block rows and columns past the capacity's (read top-left). */
  extra: number;
  steps: KvStep[];
  seed: number;
}

const step: fc.Arbitrary<KvStep> = fc.record({
  n: fc.integer({ min: 1, max: 48 }),
  device: fc.boolean(),
  query: fc.constantFrom('decode' as const, 'chunk' as const),
  causal: fc.boolean(),
  offset: fc.constantFrom('default' as const, 'number' as const, 'rows' as const),
  ragged: fc.boolean(),
  batched: fc.boolean(),
  returnLse: fc.boolean(),
  keepOnDevice: fc.boolean(),
});

/** The drawn cases, over the given block sizes and head dimensions. */
export const kvDrawn = (blocks: readonly number[], dims: readonly number[]): fc.Arbitrary<KvDrawn> => fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2, 4),
  D: fc.constantFrom(...dims),
  block: fc.constantFrom(...blocks),
  blocks: fc.integer({ min: 1, max: 4 }),
  short: fc.integer({ min: 0, max: 3 }),
  extra: fc.constantFrom(0, 0, 1),
  steps: fc.array(step, { minLength: 1, maxLength: 5 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

/** [B, heads, n, D] of `src` ([B·heads][from rows][D]) rows at … at + n − 1. */
function rows(src: Float32Array, heads: number, from: number, at: number, n: number, D: number): Float32Array {
  const out = new Float32Array(heads * n * D);
  for (let h = 0; h < heads; h++) out.set(src.subarray((h * from + at) * D, (h * from + at + n) * D), h * n * D);
  return out;
}

const divisors = (n: number) => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

/** A layout covering the capacity (plus `extra` blocks): [Hl, R, R] or [B, Hl, R, R]. */
function stepLayout(rng: Rng, d: KvDrawn, capacity: number, s: KvStep): Layout | BatchedLayout {
  const H = d.Hkv * d.ratio;
  const Hl = pick(rng, divisors(H));
  const R = Math.ceil(capacity / d.block) + d.extra;
  const heads = s.batched ? d.B * Hl : Hl;
  const l = randomLayout(heads, R, R, pick(rng, [0.3, 0.6, 1]), rng, { block: d.block, ensureRowNonEmpty: true, ensureDiagonal: s.causal });
  return s.batched ? { block: d.block, shape: [d.B, Hl, R, R], data: l.data } : l;
}

interface StepCall {
  q: Tensor;
  layout: Layout | BatchedLayout;
  causal: boolean;
  qOffset?: number | Int32Array;
  keyLengths?: Int32Array;
  returnLse: boolean;
}

/** The attention of a step over `length` cached tokens (the last append brought `n`). */
function stepCall(rng: Rng, d: KvDrawn, capacity: number, length: number, n: number, s: KvStep): StepCall {
  const H = d.Hkv * d.ratio;
  const Nq = s.query === 'chunk' ? n : randomInt(rng, 1, Math.min(16, length));
  const call: StepCall = { q: randomTensor([d.B, H, Nq, d.D], rng), layout: stepLayout(rng, d, capacity, s), causal: s.causal, returnLse: s.returnLse };
  // the default qOffset (keyLengths[b] − Nq) must not go below 0: keyLengths[b] ≥ Nq then
  const fewest = s.offset === 'default' ? Nq : 0;
  if (s.ragged) call.keyLengths = Int32Array.from({ length: d.B }, () => randomInt(rng, fewest, length));
  if (s.offset === 'number') call.qOffset = randomInt(rng, 0, length - Nq);
  if (s.offset === 'rows') call.qOffset = Int32Array.from({ length: d.B }, () => randomInt(rng, 0, length - Nq));
  return call;
}

interface Outputs {
  out: Float32Array;
  lse?: Float32Array;
}

async function outputs(r: Tensor | DeviceTensor | AttentionWithLse | { out: DeviceTensor; lse: Tensor }): Promise<Outputs> {
  if ('out' in r) {
    const out = 'read' in r.out ? await readAndDestroy(r.out) : r.out.data;
    return { out, lse: r.lse.data };
  }
  return { out: 'read' in r ? await readAndDestroy(r) : r.data };
}

async function readAndDestroy(t: DeviceTensor): Promise<Float32Array> {
  const data = (await t.read()).data;
  t.destroy();
  return data;
}

export interface KvPropertyOptions {
  numRuns: number;
  seed: number;
  /** Block sizes drawn from (WebGPU's attention tiles need a block of 16 or more). */
  blocks: readonly number[];
  /** Head dimensions drawn from (on lavapipe each one compiles its programs anew). */
  dims: readonly number[];
  /** Every engine's results must have engines[0]'s bits too (the CPU at any thread count). */
  sameBits?: boolean;
}

/**
 * The property: on every engine of `engines` (each with its own cache), random appends (Tensors or
 * DeviceTensors), each followed by an attention over the cache, which equals the call with the
 * cached tokens as k, v bit for bit, and the float64 reference within the engine's tolerance.
 */
export async function kvCacheProperty(engines: Engine[], o: KvPropertyOptions): Promise<void> {
  await fc.assert(
    fc.asyncProperty(kvDrawn(o.blocks, o.dims), async (d) => {
      const capacity = Math.max(1, d.blocks * d.block - d.short);
      const caches = await Promise.all(engines.map((e) => e.createKvCache({ batch: d.B, kvHeads: d.Hkv, headDim: d.D, capacity })));
      try {
        await runSteps(engines, caches, d, capacity, o.sameBits ?? false);
      } finally {
        for (const c of caches) c.destroy();
      }
    }),
    { numRuns: o.numRuns, seed: o.seed, endOnFailure: true },
  );
}

async function runSteps(engines: Engine[], caches: KvCache[], d: KvDrawn, capacity: number, sameBits: boolean): Promise<void> {
  const rng = mulberry32(d.seed);
  const heads = d.B * d.Hkv;
  // what the caches should hold, [B·Hkv][capacity][D]
  const kAll = new Float32Array(heads * capacity * d.D);
  const vAll = new Float32Array(heads * capacity * d.D);
  let length = 0;
  for (const [i, s] of d.steps.entries()) {
    const n = Math.min(s.n, 3 * d.block, capacity - length);
    if (n === 0) break;
    const shape = [d.B, d.Hkv, n, d.D];
    const k = randomTensor(shape, rng);
    const v = randomTensor(shape, rng);
    for (let h = 0; h < heads; h++) {
      kAll.set(k.data.subarray(h * n * d.D, (h + 1) * n * d.D), (h * capacity + length) * d.D);
      vAll.set(v.data.subarray(h * n * d.D, (h + 1) * n * d.D), (h * capacity + length) * d.D);
    }
    await Promise.all(engines.map(async (e, j) => {
      if (!s.device) return caches[j].append({ k, v });
      const [kd, vd] = await Promise.all([e.upload(k), e.upload(v)]);
      await caches[j].append({ k: kd, v: vd });
      kd.destroy();
      vd.destroy();
    }));
    length += n;
    const label = `${JSON.stringify(d)} step ${i} (length ${length} of ${capacity})`;
    for (const c of caches) check(c.length === length, `${label}: cache.length ${c.length}`);

    const call = stepCall(rng, d, capacity, length, n, s);
    const kv = { k: { data: rows(kAll, heads, capacity, 0, length, d.D), shape: [d.B, d.Hkv, length, d.D] }, v: { data: rows(vAll, heads, capacity, 0, length, d.D), shape: [d.B, d.Hkv, length, d.D] } };
    const first: Outputs[] = [];
    for (const [j, e] of engines.entries()) {
      const viaCache = await outputs(await e.attention({ ...call, kv: caches[j], keepOnDevice: s.keepOnDevice }));
      const viaTensors = await outputs(await e.attention({ ...call, ...kv }));
      assertSameBits(viaCache.out, viaTensors.out, `${label}, ${e.backend} engine ${j}: out over the cache vs k, v tensors`);
      if (call.returnLse) assertSameBits(viaCache.lse!, viaTensors.lse!, `${label}, engine ${j}: lse over the cache vs k, v tensors`);
      if (j === 0) {
        const ref = { ...call, ...kv };
        assertClose(viaCache.out, referenceAttention(ref), { ...tol(e), label: `${label}: out vs float64` });
        if (call.returnLse) assertClose(viaCache.lse!, referenceLse(ref), { ...tol(e), label: `${label}: lse vs float64` });
        first.push(viaCache);
      } else if (sameBits) {
        assertSameBits(viaCache.out, first[0].out, `${label}: engine ${j} vs engine 0`);
        if (call.returnLse) assertSameBits(viaCache.lse!, first[0].lse!, `${label}: lse, engine ${j} vs engine 0`);
      } else {
        assertClose(viaCache.out, referenceAttention({ ...call, ...kv }), { ...tol(e), label: `${label}: engine ${j} out vs float64` });
      }
    }
  }
}

export interface KvCacheCase {
  name: string;
  run(engine: Engine, other: Engine): Promise<void>;
}

/**
 * A small cache problem: B 2, Hq 4 over Hkv 2, D 6, capacity 10, and its tokens; block 4 (three
 * block rows), 16 on WebGPU (whose attention tiles need a block of 16 or more).
 */
function small(seed: number, engine: Engine) {
  const rng = mulberry32(seed);
  const [B, Hkv, H, D, capacity] = [2, 2, 4, 6, 10];
  const block = engine.backend === 'webgpu' ? 16 : 4;
  const R = Math.ceil(capacity / block);
  const tokens = (n: number) => ({ k: randomTensor([B, Hkv, n, D], rng), v: randomTensor([B, Hkv, n, D], rng) });
  const layout = randomLayout(2, R, R, 0.6, rng, { block, ensureDiagonal: true });
  const q = (Nq: number) => randomTensor([B, H, Nq, D], rng);
  return { B, Hkv, H, D, block, capacity, tokens, layout, q, options: { batch: B, kvHeads: Hkv, headDim: D, capacity } };
}

/** k and v tensors of every token appended, in order ([B, Hkv, Σn, D]). */
function joined(parts: { k: Tensor; v: Tensor }[]): { k: Tensor; v: Tensor } {
  const [B, Hkv, , D] = parts[0].k.shape;
  const n = parts.reduce((a, p) => a + p.k.shape[2], 0);
  const out = { k: new Float32Array(B * Hkv * n * D), v: new Float32Array(B * Hkv * n * D) };
  for (let h = 0; h < B * Hkv; h++) {
    let at = 0;
    for (const p of parts) {
      const m = p.k.shape[2];
      out.k.set(p.k.data.subarray(h * m * D, (h + 1) * m * D), (h * n + at) * D);
      out.v.set(p.v.data.subarray(h * m * D, (h + 1) * m * D), (h * n + at) * D);
      at += m;
    }
  }
  return { k: { data: out.k, shape: [B, Hkv, n, D] }, v: { data: out.v, shape: [B, Hkv, n, D] } };
}

export const kvCacheCases: KvCacheCase[] = [
  {
    name: 'a cache describes itself; reset() forgets the tokens (those of appends under way too), and appends after it start at position 0',
    async run(engine) {
      const p = small(1, engine);
      const cache = await engine.createKvCache(p.options);
      check(cache.batch === 2 && cache.kvHeads === 2 && cache.headDim === 6 && cache.capacity === 10, 'options kept');
      check(cache.dtype === 'float32' && cache.backend === engine.backend && cache.length === 0 && !cache.destroyed, 'a fresh cache');
      const a = p.tokens(7);
      await cache.append(a);
      check(cache.length === 7, `length ${cache.length} after 7 tokens`);
      cache.reset();
      check(cache.length === 0, `length ${cache.length} after reset`);
      await rejects(engine.attention({ q: p.q(1), kv: cache, layout: p.layout }), RangeError, /^kv holds no tokens \(kv\.length 0\)/, 'attention over a reset cache');
      const b = p.tokens(3);
      const c = p.tokens(6);
      await cache.append(b);
      await cache.append(c);
      check(cache.length === 9, `length ${cache.length} after 3 + 6 tokens`);
      const q = p.q(2);
      const got = await engine.attention({ q, kv: cache, layout: p.layout, causal: true });
      const want = await engine.attention({ q, ...joined([b, c]), layout: p.layout, causal: true });
      assertSameBits(got.data, want.data, 'after reset: the new tokens only');
      assertClose(got.data, referenceAttention({ q, ...joined([b, c]), layout: p.layout, causal: true }), { ...tol(engine), label: 'after reset vs float64' });
      // a reset while an append is under way forgets that append's tokens too
      const lost = cache.append(p.tokens(1));
      cache.reset();
      const d = p.tokens(3);
      const kept = cache.append(d);
      await Promise.all([lost, kept]);
      check(cache.length === 3, `length ${cache.length} after a reset during an append, then 3 tokens`);
      const again = await engine.attention({ q, kv: cache, layout: p.layout, causal: true });
      assertSameBits(again.data, (await engine.attention({ q, ...joined([d]), layout: p.layout, causal: true })).data, 'the tokens appended after the reset only');
      cache.destroy();
    },
  },
  {
    name: 'a call made after append resolves sees the tokens, one made during it the tokens before; appends under way are checked against the capacity together',
    async run(engine) {
      const p = small(2, engine);
      const cache = await engine.createKvCache(p.options);
      const parts = [p.tokens(4), p.tokens(3), p.tokens(2)];
      // the first part from DeviceTensors (rows padded to vec4 on WebGPU: D = 6)
      const [k0, v0] = await Promise.all([engine.upload(parts[0].k), engine.upload(parts[0].v)]);
      await cache.append({ k: k0, v: v0 });
      k0.destroy();
      v0.destroy();
      const q1 = p.q(1);
      const before = await engine.attention({ q: q1, ...joined([parts[0]]), layout: p.layout, causal: true });
      const appends = parts.slice(1).map((t) => cache.append(t));
      // made while the appends are under way: it reads the length as it is now, 4 tokens
      check(cache.length === 4, `length ${cache.length} while two appends are under way`);
      const during = engine.attention({ q: q1, kv: cache, layout: p.layout, causal: true });
      // 9 tokens under way: one more fits, two do not
      await rejects(cache.append(p.tokens(2)), RangeError, /^k: appending 2 tokens to a KvCache holding 9 would pass its capacity \(10\)/, 'past capacity while appends are under way');
      await Promise.all(appends);
      assertSameBits((await during).data, before.data, 'a call made while appends are under way: the tokens held before them');
      check(cache.length === 9, `length ${cache.length}`);
      const q = p.q(3);
      const got = await engine.attention({ q, kv: cache, layout: p.layout, causal: true, returnLse: true });
      const want = await engine.attention({ q, ...joined(parts), layout: p.layout, causal: true, returnLse: true });
      assertSameBits(got.out.data, want.out.data, 'out after three appends');
      assertSameBits(got.lse.data, want.lse.data, 'lse after three appends');
      const last = p.tokens(1);
      await cache.append(last);
      check(cache.length === 10, 'full');
      const full = await engine.attention({ q, kv: cache, layout: p.layout });
      assertClose(full.data, referenceAttention({ q, ...joined([...parts, last]), layout: p.layout }), { ...tol(engine), label: 'a full cache vs float64' });
      cache.destroy();
    },
  },
  {
    name: 'destroy() is idempotent; a destroyed cache refuses append, reset and attention with a TypeError naming kv',
    async run(engine) {
      const p = small(3, engine);
      const cache = await engine.createKvCache(p.options);
      await cache.append(p.tokens(5));
      cache.destroy();
      check(cache.destroyed, 'destroyed after destroy()');
      cache.destroy();
      check(cache.destroyed, 'still destroyed after a second destroy()');
      await rejects(cache.append(p.tokens(1)), TypeError, /^kv is a destroyed KvCache/, 'append after destroy');
      await rejects(() => cache.reset(), TypeError, /^kv is a destroyed KvCache/, 'reset after destroy');
      await rejects(engine.attention({ q: p.q(1), kv: cache, layout: p.layout }), TypeError, /^kv is a destroyed KvCache/, 'attention after destroy');
    },
  },
  {
    name: 'append past capacity is a RangeError and leaves the cache as it was; bad tokens are refused by name',
    async run(engine, other) {
      const p = small(4, engine);
      const cache = await engine.createKvCache(p.options);
      const held = p.tokens(6);
      await cache.append(held);
      const q = p.q(2);
      const before = await engine.attention({ q, kv: cache, layout: p.layout, causal: true });
      await rejects(cache.append(p.tokens(5)), RangeError, /^k: appending 5 tokens to a KvCache holding 6 would pass its capacity \(10\); the cache is unchanged/, 'past capacity');
      check(cache.length === 6, `length ${cache.length} after the refused append`);
      assertSameBits((await engine.attention({ q, kv: cache, layout: p.layout, causal: true })).data, before.data, 'attention after the refused append');
      const { k, v } = p.tokens(2);
      const wrong = (shape: number[]) => randomTensor(shape, mulberry32(40));
      const refusals: [unknown, ErrorConstructor, RegExp, string][] = [
        [{ k: wrong([1, 2, 2, 6]), v }, RangeError, /^k\.shape\[0\] \(B, the cache's batch\) must equal 2, got 1/, 'k of another batch'],
        [{ k: wrong([2, 1, 2, 6]), v }, RangeError, /^k\.shape\[1\] \(Hkv, the cache's kvHeads\) must equal 2, got 1/, 'k of other kv heads'],
        [{ k: wrong([2, 2, 2, 5]), v }, RangeError, /^k\.shape\[3\] \(D, the cache's headDim\) must equal 6, got 5/, 'k of another head dimension'],
        [{ k, v: wrong([2, 2, 3, 6]) }, RangeError, /^v\.shape\[2\] \(n\) must equal k\.shape\[2\] \(2\), got 3/, 'v of other tokens than k'],
        [{ k, v: wrong([2, 2, 2, 5]) }, RangeError, /^v\.shape\[3\] \(D\) must equal k\.shape\[3\] \(6\), got 5/, 'v of another head dimension'],
        [{ k: wrong([2, 2, 12]), v }, RangeError, /^k\.shape must be \[B, Hkv, n, D\]/, 'k of rank 3'],
        [{ k }, TypeError, /^v must be an object/, 'no v'],
        [{ k: { data: [1], shape: [1, 1, 1, 1] }, v }, TypeError, /^k\.data must be a Float32Array/, 'k of plain numbers'],
        [null, TypeError, /^tokens must be an object, got null/, 'no tokens'],
        [{ k: await other.upload(k), v }, TypeError, /^k is a DeviceTensor of another engine/, 'k of another engine'],
      ];
      for (const [tokens, type, pattern, label] of refusals) {
        await rejects(cache.append(tokens as { k: Tensor; v: Tensor }), type, pattern, label);
        check(cache.length === 6, `${label}: length ${cache.length}`);
      }
      const gone = await engine.upload(v);
      gone.destroy();
      await rejects(cache.append({ k, v: gone }), TypeError, /^v is a destroyed DeviceTensor/, 'a destroyed v');
      assertSameBits((await engine.attention({ q, kv: cache, layout: p.layout, causal: true })).data, before.data, 'attention after the refusals');
      await cache.append({ k, v });
      const after = await engine.attention({ q, kv: cache, layout: p.layout, causal: true });
      assertClose(after.data, referenceAttention({ q, ...joined([held, { k, v }]), layout: p.layout, causal: true }), { ...tol(engine), label: 'the engine and the cache after the refusals' });
      cache.destroy();
    },
  },
  {
    name: 'attention({ kv }) refuses a foreign or wrong cache, kv with k or v, a q the cache does not fit, keyLengths past kv.length, attentionBackward with kv',
    async run(engine, other) {
      const p = small(5, engine);
      const cache = await engine.createKvCache(p.options);
      await cache.append(p.tokens(5));
      const foreign = await other.createKvCache(p.options);
      await foreign.append(p.tokens(5));
      const base = { q: p.q(2), kv: cache, layout: p.layout };
      const { k, v } = p.tokens(5);
      const refusals: [unknown, ErrorConstructor, RegExp, string][] = [
        [{ ...base, kv: foreign }, TypeError, /^kv is a KvCache of another engine/, 'a cache of another engine'],
        [{ ...base, kv: { length: 5 } }, TypeError, /^kv must be a KvCache from engine\.createKvCache, got an object/, 'kv not a cache'],
        [{ ...base, k }, TypeError, /^pass either kv or k and v, not both: got kv and k/, 'kv with k'],
        [{ ...base, v }, TypeError, /^pass either kv or k and v, not both: got kv and v/, 'kv with v'],
        [{ ...base, q: randomTensor([2, 3, 2, 6], mulberry32(1)) }, RangeError, /^kv\.kvHeads \(Hkv\) must divide q\.shape\[1\] \(Hq = 3\), got 2/, 'Hq not a multiple of kv.kvHeads'],
        [{ ...base, q: randomTensor([1, 4, 2, 6], mulberry32(1)) }, RangeError, /^q\.shape\[0\] \(B, the cache's batch\) must equal 2, got 1/, 'q of another batch'],
        [{ ...base, q: randomTensor([2, 4, 2, 4], mulberry32(1)) }, RangeError, /^q\.shape\[3\] \(D, the cache's headDim\) must equal 6, got 4/, 'q of another head dimension'],
        [{ ...base, keyLengths: Int32Array.of(5, 6) }, RangeError, /^keyLengths\[1\] must be in \[0, 5\] \(kv\.length, the tokens the cache holds\), got 6/, 'keyLengths past kv.length'],
        [{ ...base, q: p.q(6) }, RangeError, /^qOffset defaults to .* below 0/, 'more queries than tokens without qOffset'],
      ];
      for (const [args, type, pattern, label] of refusals) await rejects(engine.attention(args as never), type, pattern, label);
      const dout = p.q(2);
      await rejects(engine.attentionBackward({ ...base, dout } as never), TypeError, /^kv: attentionBackward takes k and v tensors/, 'attentionBackward with kv');
      await rejects(engine.attentionBackward({ ...base, k, v, dout } as never), TypeError, /^kv: attentionBackward/, 'attentionBackward with kv and k, v');
      const got = await engine.attention({ ...base, keyLengths: Int32Array.of(5, 3) });
      check(got.shape.join() === '2,4,2,6', `shape ${got.shape}`);
      foreign.destroy();
      cache.destroy();
    },
  },
  {
    name: 'createKvCache refuses options that are not positive integers, and dtypes other than float32 and float16, by name',
    async run(engine) {
      const o = { batch: 1, kvHeads: 2, headDim: 8, capacity: 16 };
      const refusals: [unknown, ErrorConstructor, RegExp][] = [
        [undefined, TypeError, /^options must be an object, got undefined/],
        [{ ...o, batch: 0 }, RangeError, /^batch must be a positive integer, got 0/],
        [{ ...o, batch: undefined }, TypeError, /^batch must be a positive integer, got undefined/],
        [{ ...o, kvHeads: 1.5 }, TypeError, /^kvHeads must be a positive integer, got 1\.5/],
        [{ ...o, headDim: -4 }, RangeError, /^headDim must be a positive integer, got -4/],
        [{ ...o, capacity: '16' }, TypeError, /^capacity must be a positive integer, got '16'/],
        [{ ...o, capacity: Infinity }, TypeError, /^capacity must be a positive integer, got Infinity/],
        [{ ...o, dtype: 'bfloat16' }, RangeError, /^dtype must be 'float32' or 'float16', got 'bfloat16'/],
      ];
      for (const [options, type, pattern] of refusals) await rejects(engine.createKvCache(options as never), type, pattern, `createKvCache(${JSON.stringify(options)})`);
      const cache = await engine.createKvCache({ ...o, dtype: 'float32' });
      check(cache.dtype === 'float32' && cache.length === 0, 'dtype float32 given');
      cache.destroy();
    },
  },
];

/** engine.close() destroys every cache of the engine: append and attention after it reject. */
export async function closedEngineKvCase(engine: Engine): Promise<void> {
  const p = small(6, engine);
  const caches = await Promise.all([engine.createKvCache(p.options), engine.createKvCache(p.options)]);
  await caches[0].append(p.tokens(3));
  const gone = await engine.createKvCache(p.options);
  gone.destroy();
  await engine.close();
  for (const c of caches) check(c.destroyed, 'a cache is destroyed after its engine closed');
  caches[0].destroy(); // harmless after close
  await rejects(caches[0].append(p.tokens(1)), TypeError, /^kv is a destroyed KvCache/, 'append after close');
  await rejects(engine.attention({ q: p.q(1), kv: caches[0], layout: p.layout }), Error, /engine is closed/, 'attention after close');
  await rejects(engine.createKvCache(p.options), Error, /engine is closed/, 'createKvCache after close');
}
