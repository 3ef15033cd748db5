// Float16 storage (API.md "Float16 storage", src/float16.ts, src/dtype.ts). The conversions: every
// half value round-trips, rounding matches an independent nearest-half search (ties to even, at
// several exponents), overflow, underflow, ±0 and NaN. The engine on the CPU (both builds): a
// fast-check property of attention, lse and the backward with float16 q, k, v, dout against the
// float64 reference of the half values within API.md's float16 tolerances, and bit for bit the
// float32 path over the same values rounded once at the end; the KV cache, upload / read and
// keepOnDevice in float16; output array types; and the refusals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { fromFloat16, toFloat16 } from '../src/index.js';
import type { Engine } from '../src/engine.js';
import type { Float16Tensor, Tensor } from '../src/types.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import {
  F16_BACKWARD, F16_FORWARD, Float16ArrayClass, assertF16Close, bitsOf, halfCase, halfTensor, valuesOf, type HalfArray,
} from './helpers/float16.js';
import { attentionInputs } from './ops/inputs.js';
import type { AttentionCase } from './ops/cases.js';
import { referenceAttention, referenceAttentionBackward, referenceLse } from './reference/index.js';

// ---- conversions -----------------------------------------------------------------------------------

const Convert = suite('toFloat16 / fromFloat16');

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);
const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];
const bitsOfF32 = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const half = (x: number) => toFloat16(new Float32Array([x]))[0];

/** The value of half bits h, from the format's definition (not the code under test). */
function decode(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The finite non-negative halves in increasing order: bits 0 … 0x7bff. */
const POSITIVE = Float64Array.from({ length: 0x7c00 }, (_, i) => decode(i));

/** The nearest half to x by search over every half (ties to the even bits), as float64 arithmetic says. */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // beyond the largest half, 65504, by half a step (2^4) or more: Infinity
  if (a >= 65504 + 16) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - POSITIVE[lo];
  const dHi = POSITIVE[hi] - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | (a >= POSITIVE[hi] ? hi : pick);
}

Convert('every half value converts to its value and back to its bits (NaN payloads included)', () => {
  const values = fromFloat16(ALL);
  assert.ok(values instanceof Float32Array);
  for (let h = 0; h < 65536; h++) {
    const want = decode(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(values[h]), `0x${h.toString(16)} is NaN`);
    else assert.ok(Object.is(values[h], want), `0x${h.toString(16)}: ${values[h]}, expected ${want}`);
  }
  const back = toFloat16(values);
  assert.ok(back instanceof Uint16Array);
  for (let h = 0; h < 65536; h++) if (back[h] !== h) assert.unreachable(`0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
});

Convert('ties go to the even half at several exponents (subnormal, small, 1, large)', () => {
  for (const h of [0x0000, 0x0001, 0x0002, 0x0155, 0x03fe, 0x03ff, 0x0400, 0x0401, 0x1234, 0x3c00, 0x3c01, 0x5555, 0x7000, 0x7bfe]) {
    const mid = (decode(h) + decode(h + 1)) / 2; // exact in float32: one more significand bit
    assert.is(f32(bitsOfF32(mid)), mid);
    const even = h % 2 === 0 ? h : h + 1;
    assert.is(half(mid), even, `halfway above 0x${h.toString(16)}`);
    assert.is(half(-mid), 0x8000 | even, `-halfway above 0x${h.toString(16)}`);
    // just off the tie, to either side
    assert.is(half(f32(bitsOfF32(mid) + 1)), h + 1, `just above halfway above 0x${h.toString(16)}`);
    assert.is(half(f32(bitsOfF32(mid) - 1)), h, `just below halfway above 0x${h.toString(16)}`);
  }
});

Convert('overflow to ±Infinity, underflow to subnormals and ±0, ±0 and ±Infinity exact', () => {
  assert.is(half(65504), 0x7bff);
  assert.is(half(f32(bitsOfF32(65520) - 1)), 0x7bff, 'just below 65520 rounds to 65504');
  assert.is(half(65520), 0x7c00, '65520, halfway to 2^16, rounds to even: Infinity');
  assert.is(half(1e10), 0x7c00);
  assert.is(half(-3.4e38), 0xfc00);
  assert.is(half(Infinity), 0x7c00);
  assert.is(half(-Infinity), 0xfc00);
  assert.is(half(0), 0x0000);
  assert.is(half(-0), 0x8000);
  assert.is(half(2 ** -24), 0x0001, 'the smallest subnormal');
  assert.is(half(2 ** -25), 0x0000, 'half of it is a tie: to the even 0');
  assert.is(half(-(2 ** -25)), 0x8000);
  assert.is(half(f32(bitsOfF32(2 ** -25) + 1)), 0x0001, 'just above half of it');
  assert.is(half(2 ** -26), 0x0000);
  assert.is(half(-(2 ** -30)), 0x8000, 'a negative value too small keeps its sign');
  assert.is(half(1.4e-45), 0x0000, 'the smallest float32 subnormal');
  assert.is(half(2 ** -14), 0x0400, 'the smallest normal');
  assert.is(half(2 ** -14 - 2 ** -25), 0x0400, 'halfway below the smallest normal rounds up into it (even)');
  assert.ok(Object.is(fromFloat16(new Uint16Array([0x8000]))[0], -0));
  assert.is(fromFloat16(new Uint16Array([0xfc00]))[0], -Infinity);
});

Convert('NaN stays NaN, keeps its sign and the top payload bits; a half NaN keeps its whole payload', () => {
  const nan = (bits: number) => toFloat16(new Float32Array(new Uint32Array([bits]).buffer))[0];
  assert.is(nan(0x7fc00000), 0x7e00, 'the quiet NaN');
  assert.is(nan(0xffc00000), 0xfe00, 'its sign');
  assert.is(nan(0x7f800001), 0x7e00, 'a payload only in the dropped bits gets the quiet bit: still NaN');
  assert.is(nan(0x7faaa000), 0x7d55, 'the top 10 payload bits are kept');
  assert.is(half(NaN), 0x7e00);
  const back = new Uint32Array(fromFloat16(new Uint16Array([0x7c01, 0xfd55])).buffer);
  assert.is(back[0], 0x7f802000);
  assert.is(back[1], 0xffaaa000);
});

Convert('property: toFloat16 is the nearest half (ties to even) for any float32', () => {
  const check = (x: number) => {
    const got = half(x);
    const want = nearestHalf(Math.fround(x));
    if (Number.isNaN(want)) return (got & 0x7c00) === 0x7c00 && (got & 0x3ff) !== 0;
    return got === want;
  };
  // any bits, and values in the half range where the rounding decisions are
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (bits) => check(f32(bits))), { numRuns: 20000, seed: 16 });
  fc.assert(fc.property(fc.float({ min: -70000, max: 70000, noNaN: true }), check), { numRuns: 20000, seed: 17 });
  fc.assert(fc.property(fc.float({ min: Math.fround(-(2 ** -13)), max: Math.fround(2 ** -13) }), check), { numRuns: 20000, seed: 18 });
});

Convert('subarrays convert their own elements', () => {
  const big = new Float32Array([9, 1.5, -2, 3]);
  assert.equal(Array.from(toFloat16(big.subarray(1, 3))), [0x3e00, 0xc000]);
  const bits = new Uint16Array([0x7c00, 0x3c00, 0xc000]);
  assert.equal(Array.from(fromFloat16(bits.subarray(1))), [1, -2]);
});

Convert.run();

// ---- the engine on the CPU -------------------------------------------------------------------------

const Engine16 = suite('float16 storage on the CPU');
const E = cpuEngines(Engine16);

/** `call` rejects with a `type` whose message matches `re`. */
async function rejects(call: Promise<unknown>, type: typeof TypeError | typeof RangeError, re: RegExp): Promise<void> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof type, `${(err as Error).name}: ${(err as Error).message}, expected a ${type.name}`);
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`resolved; expected a ${type.name} matching ${re}`);
}

function sameBits(a: Uint16Array, b: Uint16Array, label: string): void {
  assert.is(a.length, b.length, `${label}: length`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.unreachable(`${label}: differs at ${i} (0x${a[i].toString(16)} vs 0x${b[i].toString(16)})`);
}

/** The float32 result a float16 one must equal: the f32 path's, rounded once. */
const rounded = (t: Tensor) => toFloat16(t.data);

interface Drawn {
  B: number;
  Hkv: number;
  ratio: number;
  block: number;
  R: number;
  /** Query rows and keys beyond self-attention (0: self-attention, N = R·block). */
  Nq: number;
  extraKeys: number;
  D: number;
  causal: boolean;
  rpe: boolean;
  kpm: 'none' | 'add' | 'mul';
  seed: number;
}

function caseOf(d: Drawn): AttentionCase {
  const H = d.Hkv * d.ratio;
  const base = { kind: 'attention' as const, name: JSON.stringify(d), seed: d.seed, B: d.B, H, Hkv: d.Hkv, R: d.R, block: d.block, D: d.D };
  const opts = { causal: d.causal, rpe: d.rpe, keyPaddingMaskMode: d.kpm };
  return d.Nq === 0 ? { ...base, opts } : { ...base, R: 0, Nq: d.Nq, Nk: d.Nq + d.extraKeys, opts };
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2),
  block: fc.constantFrom(16, 32),
  R: fc.integer({ min: 1, max: 3 }),
  Nq: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
  extraKeys: fc.integer({ min: 0, max: 50 }),
  D: fc.constantFrom(16, 32, 64),
  causal: fc.boolean(),
  rpe: fc.boolean(),
  kpm: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

Engine16('property: out, lse and dq, dk, dv of float16 inputs are within the float16 tolerances of float64, and the f32 path rounded once', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, fc.boolean(), async (d, useRelaxed) => {
      const e = useRelaxed ? E.relaxed : E.one;
      const label = JSON.stringify(d);
      const { half, widened } = halfCase(attentionInputs(caseOf(d)));
      const { out, lse } = await e.attention({ ...half, returnLse: true });
      assert.ok(out.data instanceof Uint16Array, `${label}: out is half-float bits`);
      assert.is(out.dtype, 'float16');
      assert.ok(lse.data instanceof Float32Array, `${label}: lse is float32`);
      assert.is(lse.dtype, undefined);
      assertF16Close(fromFloat16(out.data as Uint16Array), referenceAttention(widened), F16_FORWARD, `${label} out`);
      assertF16Close(lse.data, referenceLse(widened), F16_FORWARD, `${label} lse`);
      const f32 = await e.attention({ ...widened, returnLse: true });
      sameBits(out.data as Uint16Array, rounded(f32.out), `${label} out vs the f32 path`);
      assert.equal(lse.data, f32.lse.data, `${label} lse vs the f32 path`);

      const g = await e.attentionBackward(half);
      const ref = referenceAttentionBackward(widened);
      const g32 = await e.attentionBackward(widened);
      for (const name of ['dq', 'dk', 'dv'] as const) {
        const t = g[name];
        assert.is(t.dtype, 'float16');
        assert.ok(t.data instanceof Uint16Array, `${label}: ${name} is half-float bits`);
        assertF16Close(valuesOf(t), ref[name], F16_BACKWARD, `${label} ${name}`);
        sameBits(bitsOf(t), rounded(g32[name]), `${label} ${name} vs the f32 path`);
      }
    }),
    { numRuns: 40, seed: 1616, endOnFailure: true },
  );
});

const fixed: Drawn = { B: 2, Hkv: 2, ratio: 2, block: 16, R: 3, Nq: 0, extraKeys: 0, D: 32, causal: true, rpe: true, kpm: 'mul', seed: 160 };

Engine16('a float32 tensor with dtype: \'float32\' gives the bits of one without dtype; info says how float16 is computed', async () => {
  const a = attentionInputs(caseOf(fixed));
  const tagged = (t: Tensor): Tensor => ({ ...t, dtype: 'float32' });
  const plain = await E.one.attention(a);
  const withDtype = await E.one.attention({ ...a, q: tagged(a.q), k: tagged(a.k), v: tagged(a.v) });
  assert.equal(withDtype.data, plain.data);
  assert.is(withDtype.dtype, undefined, 'a float32 result has no dtype field, as before');
  assert.is(E.one.info.float16, 'converted to float32 at the copies in and out; f32 kernels');
});

Engine16('a pool of two threads gives the bits of one thread', async () => {
  const { half } = halfCase(attentionInputs(caseOf({ ...fixed, Nq: 20, extraKeys: 30 })));
  sameBits((await E.two.attention(half)).data as Uint16Array, (await E.one.attention(half)).data as Uint16Array, 'out');
  const [a, b] = [await E.two.attentionBackward(half), await E.one.attentionBackward(half)];
  for (const name of ['dq', 'dk', 'dv'] as const) sameBits(bitsOf(a[name]), bitsOf(b[name]), name);
});

(Float16ArrayClass ? Engine16 : Engine16.skip)('Float16Array in, Float16Array out (this runtime has Float16Array)', async () => {
  const a = attentionInputs(caseOf(fixed));
  const bits = halfCase(a).half;
  const arrays = halfCase(a, 'Float16Array' as HalfArray).half;
  const out = await E.one.attention(arrays);
  assert.is(Object.prototype.toString.call(out.data), '[object Float16Array]');
  sameBits(bitsOf(out), bitsOf(await E.one.attention(bits)), 'out');
  const g = await E.one.attentionBackward(arrays);
  assert.is(Object.prototype.toString.call(g.dk.data), '[object Float16Array]');
  const up = await E.one.upload(arrays.q);
  assert.is(Object.prototype.toString.call((await up.read()).data), '[object Float16Array]');
  up.destroy();
});
if (!Float16ArrayClass) console.log('float16: Float16Array tests skipped: this runtime has no Float16Array (test/deno/float16.test.ts runs them)');

Engine16('upload and read keep the dtype and bits; float16 DeviceTensors as operands and keepOnDevice results', async () => {
  const { half } = halfCase(attentionInputs(caseOf(fixed)));
  const e = E.two;
  const q = await e.upload(half.q);
  assert.is(q.dtype, 'float16');
  const read = await q.read();
  assert.is(read.dtype, 'float16');
  assert.ok(read.data instanceof Uint16Array);
  sameBits(read.data as Uint16Array, half.q.data as Uint16Array, 'read() of an upload');
  const f = await e.upload({ data: new Float32Array([1, 2]), shape: [2] });
  assert.is(f.dtype, 'float32');
  assert.is((await f.read()).dtype, undefined);
  f.destroy();

  const [k, v, dout] = await Promise.all([e.upload(half.k), e.upload(half.v), e.upload(half.dout)]);
  const host = await e.attention(half);
  sameBits((await e.attention({ ...half, q, k, v })).data as Uint16Array, host.data as Uint16Array, 'uploaded operands');
  const kept = await e.attention({ ...half, q, k, v, keepOnDevice: true });
  assert.is(kept.dtype, 'float16');
  sameBits((await kept.read()).data as Uint16Array, host.data as Uint16Array, 'kept on the device');
  const keptLse = await e.attention({ ...half, keepOnDevice: true, returnLse: true });
  assert.is(keptLse.out.dtype, 'float16');
  assert.ok(keptLse.lse.data instanceof Float32Array);
  const g = await e.attentionBackward(half);
  const gd = await e.attentionBackward({ ...half, q, k, v, dout, keepOnDevice: true });
  for (const name of ['dq', 'dk', 'dv'] as const) {
    assert.is(gd[name].dtype, 'float16');
    sameBits(bitsOf(await gd[name].read()), bitsOf(g[name]), `${name} kept on the device`);
  }
  for (const t of [q, k, v, dout, kept, keptLse.out, gd.dq, gd.dk, gd.dv]) t.destroy();
});

/** Tokens from..to of k or v [B, Hkv, Nk, D]. */
function tokens(t: Float16Tensor, from: number, to: number): Float16Tensor {
  const [B, Hkv, Nk, D] = t.shape;
  const src = bitsOf(t);
  const data = new Uint16Array(B * Hkv * (to - from) * D);
  for (let h = 0; h < B * Hkv; h++) data.set(src.subarray((h * Nk + from) * D, (h * Nk + to) * D), h * (to - from) * D);
  return { data, shape: [B, Hkv, to - from, D], dtype: 'float16' };
}

Engine16('a float16 KV cache: appends of float16 tokens, attention over it gives the bits of the same call with k, v', async () => {
  for (const e of [E.one, E.two] as Engine[]) {
    const d: Drawn = { ...fixed, Nq: 1, extraKeys: 70, causal: true, rpe: false, kpm: 'none' };
    const { half, widened } = halfCase(attentionInputs(caseOf(d)));
    const [B, Hkv, Nk, D] = half.k.shape;
    const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: Nk + 16 * 3, dtype: 'float16' });
    assert.is(cache.dtype, 'float16');
    await cache.append({ k: tokens(half.k, 0, 30), v: tokens(half.v, 0, 30) });
    const [k, v] = await Promise.all([e.upload(tokens(half.k, 30, Nk)), e.upload(tokens(half.v, 30, Nk))]);
    await cache.append({ k, v }); // float16 DeviceTensors append too
    k.destroy();
    v.destroy();
    const { k: _k, v: _v, dout: _d, ...rest } = half;
    const cached = await e.attention({ ...rest, kv: cache, returnLse: true });
    const plain = await e.attention({ ...half, returnLse: true });
    assert.ok(cached.out.data instanceof Uint16Array);
    sameBits(cached.out.data as Uint16Array, plain.out.data as Uint16Array, 'out, cache vs tensors');
    assert.equal(cached.lse.data, plain.lse.data);
    assertF16Close(valuesOf(cached.out), referenceAttention(widened), F16_FORWARD, 'out');

    // refusals: the other dtype into the cache, or over it
    const f32 = { data: new Float32Array(B * Hkv * D), shape: [B, Hkv, 1, D] };
    await rejects(cache.append({ k: f32, v: f32 }), TypeError, /^k is float32 but the KvCache holds float16/);
    await rejects(cache.append({ k: tokens(half.k, 0, 1), v: f32 }), TypeError, /^v is float32/);
    await rejects(e.attention({ ...rest, q: widened.q, kv: cache }), TypeError, /^kv is a float16 KvCache but q is float32/);
    assert.is(cache.length, Nk, 'refused appends leave the cache as it was');
    const cache32 = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: 8 });
    assert.is(cache32.dtype, 'float32');
    await rejects(cache32.append({ k: tokens(half.k, 0, 1), v: tokens(half.v, 0, 1) }), TypeError, /^k is float16 but the KvCache holds float32/);
    cache.destroy();
    cache32.destroy();
  }
  await rejects(E.one.createKvCache({ batch: 1, kvHeads: 1, headDim: 8, capacity: 8, dtype: 'bfloat16' as 'float16' }), RangeError, /^dtype must be 'float32' or 'float16', got 'bfloat16'/);
});

Engine16('refusals: mixed dtypes, half floats without dtype, unknown dtypes, wrong arrays and lengths, float16 masks', async () => {
  const a = attentionInputs(caseOf(fixed));
  const { half } = halfCase(a);
  const e = E.one;
  const refused = (args: unknown, type: typeof TypeError | typeof RangeError, re: RegExp, backward = false) =>
    rejects(backward ? e.attentionBackward(args as never) : e.attention(args as never), type, re);
  await refused({ ...half, k: a.k }, TypeError, /^k is float32 but q is float16: q, k, v and dout take one dtype in a call/);
  await refused({ ...half, v: a.v }, TypeError, /^v is float32 but q is float16/);
  await refused({ ...a, k: half.k }, TypeError, /^k is float16 but q is float32/);
  await refused({ ...half, dout: a.dout }, TypeError, /^dout is float32 but q is float16/, true);
  const k32 = await e.upload(a.k);
  await refused({ ...half, k: k32 }, TypeError, /^k is float32 but q is float16/);
  k32.destroy();
  await refused({ ...a, q: { data: half.q.data, shape: half.q.shape } }, TypeError, /^q\.data is a Uint16Array without dtype: 'float16'/);
  await refused({ ...a, q: { ...a.q, dtype: 'bfloat16' } }, RangeError, /^q\.dtype must be 'float32' or 'float16', got 'bfloat16'/);
  await refused({ ...half, q: { ...half.q, data: a.q.data } }, TypeError, /^q\.data must be a Uint16Array \(half-float bits\) or a Float16Array for dtype 'float16', got a Float32Array/);
  await refused({ ...half, q: { ...half.q, data: new Uint16Array(5) } }, RangeError, /^q\.data\.length \(5\) must equal the product of q\.shape/);
  await refused({ ...half, rpe: halfTensor(a.rpe!) }, TypeError, /^rpe must be float32 \(dtype 'float16' is taken for q, k, v and dout only\)/);
  await refused({ ...half, rpe: { data: toFloat16(a.rpe!.data), shape: a.rpe!.shape } }, TypeError, /^rpe\.data must be a Float32Array, got a Uint16Array/);
  await rejects(e.upload({ data: new Uint16Array(4), shape: [4] } as never), TypeError, /^tensor\.data is a Uint16Array without dtype/);
  await rejects(e.matmul({ mode: 'sdd', a: halfTensor(a.q), b: a.k, layout: a.layout, transB: true } as never), TypeError, /^a must be float32/);
  // the engine is still usable
  assert.ok((await e.attention(half)).data instanceof Uint16Array);
});

Engine16.run();
