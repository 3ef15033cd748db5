// Float16 storage on the WebGPU engine (lavapipe in CI), and the conversions against Deno's own
// Float16Array. A few small cases (lavapipe is slow): attention, lse and the backward with
// Float16Array and Uint16Array inputs within API.md's float16 tolerances of float64; the forward
// bit for bit the f32 path rounded once; a float16 KV cache; upload / read; engine.info's float16
// paths. Where the adapter has shader-f16 (lavapipe does), the f16 kernels: the drawn shapes of
// test/helpers/shape-cases.ts (GQA, rectangular, offsets, partial blocks, causal, masks) forward,
// lse and backward within the float16 tolerances; decode over float16 KV caches; the f16 programs
// are the ones that ran; f16 buffers hold half the bytes. The GPU cases are skipped, with the
// reason printed, where no adapter is found (the f16-kernel ones too where it has no shader-f16).
import fc from 'fast-check';
import { createWebGPUBackend } from '../../gpu/index.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { lastCallParts } from '../../src/attention-parts.ts';
import { attentionBackwardProblem, attentionProblem } from './problems.ts';
import { fromFloat16, toFloat16 } from '../../src/float16.ts';
import type { DeviceTensor, Float16Tensor, KvCache } from '../../src/types.ts';
import { F16_BACKWARD, F16_FORWARD, assertF16Close, bitsOf, halfCase, halfTensor, valuesOf } from '../helpers/float16.ts';
import { caseOf, drawnShape } from '../helpers/shape-cases.ts';
import { attentionInputs } from '../ops/inputs.ts';
import type { AttentionCase } from '../ops/cases.ts';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../reference/index.ts';

let gpu: Engine | null = null;
try {
  gpu = await createEngine({ backend: 'webgpu' });
} catch (e) {
  console.warn(`float16 webgpu tests skipped: ${(e as Error).message}`);
}
const shaderF16 = gpu !== null && (gpu.info.features as string[]).includes('shader-f16');
if (gpu && !shaderF16) console.warn('float16 webgpu f16-kernel tests skipped: the adapter has no shader-f16');
const opts = { sanitizeOps: false, sanitizeResources: false };
const gpuTest = (name: string, fn: (e: Engine) => Promise<void>) => Deno.test({ name, ignore: gpu === null, ...opts, fn: () => fn(gpu!) });
/** A test of the f16 kernels: skipped without shader-f16, where float16 takes the conversion path. */
const f16Test = (name: string, fn: (e: Engine) => Promise<void>) =>
  Deno.test({ name: `webgpu float16, f16 kernels (shader-f16): ${name}`, ignore: !shaderF16, ...opts, fn: () => fn(gpu!) });

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

function sameBits(a: Uint16Array, b: Uint16Array, label: string): void {
  check(a.length === b.length, `${label}: length ${a.length}, expected ${b.length}`);
  for (let i = 0; i < a.length; i++) check(a[i] === b[i], `${label}: differs at ${i} (0x${a[i].toString(16)} vs 0x${b[i].toString(16)})`);
}

const isF16 = (x: unknown) => Object.prototype.toString.call(x) === '[object Float16Array]';

Deno.test('toFloat16 and fromFloat16 agree with the runtime\'s Float16Array and Math.f16round (NaN aside)', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const mine = fromFloat16(all);
  const native = new Float16Array(all.buffer);
  for (let i = 0; i < 65536; i++) check(Object.is(mine[i], native[i]) || (Number.isNaN(mine[i]) && Number.isNaN(native[i])), `fromFloat16 0x${i.toString(16)}`);
  // random float32 bits, and values dense in the half range
  let seed = 16;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const bits = Uint32Array.from({ length: 1 << 18 }, (_, i) => (i % 2 ? next() : (0x30000000 + (next() % 0x18000000)) | (next() & 0x80000000)) >>> 0);
  const x = new Float32Array(bits.buffer);
  const h = toFloat16(x);
  const nativeBits = new Uint16Array(new Float16Array(x).buffer);
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) continue;
    check(h[i] === nativeBits[i], `toFloat16 of 0x${bits[i].toString(16)}: 0x${h[i].toString(16)}, Float16Array 0x${nativeBits[i].toString(16)}`);
    check(Object.is(fromFloat16(h.subarray(i, i + 1))[0], Math.f16round(x[i])), `Math.f16round of 0x${bits[i].toString(16)}`);
  }
});

const base = { kind: 'attention' as const, seed: 1601, B: 1, H: 2, Hkv: 1, block: 16, D: 32 };
const cases: AttentionCase[] = [
  { ...base, name: 'self-attention, causal, rpe', R: 3, opts: { causal: true, rpe: true } },
  { ...base, name: 'Nq 20 against 45 keys, key padding', seed: 1602, R: 0, Nq: 20, Nk: 45, opts: { keyPaddingMaskMode: 'mul' } },
];

for (const c of cases) {
  gpuTest(`webgpu float16: ${c.name}: out, lse and the gradients within the float16 tolerances; Float16Array in and out`, async (e) => {
    const a = attentionInputs(c);
    const { half, widened } = halfCase(a, 'Float16Array');
    const { out, lse } = await e.attention({ ...half, returnLse: true });
    check(isF16(out.data) && out.dtype === 'float16', 'out is a float16 Float16Array');
    check(lse.data instanceof Float32Array, 'lse is float32');
    assertF16Close(valuesOf(out), referenceAttention(widened), F16_FORWARD, 'out');
    assertF16Close(lse.data, referenceLse(widened), F16_FORWARD, 'lse');
    const f32 = await e.attention(widened);
    sameBits(bitsOf(out), toFloat16(f32.data), 'out vs the f32 path rounded once');
    const bits = halfCase(a, 'bits').half;
    const outBits = await e.attention(bits);
    check(outBits.data instanceof Uint16Array, 'Uint16Array in, Uint16Array out');
    sameBits(bitsOf(outBits), bitsOf(out), 'Uint16Array vs Float16Array inputs');
    const g = await e.attentionBackward(half);
    const ref = referenceAttentionBackward(widened);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      check(isF16(g[name].data) && g[name].dtype === 'float16', `${name} is a float16 Float16Array`);
      assertF16Close(valuesOf(g[name]), ref[name], F16_BACKWARD, name);
    }
  });
}

/** Tokens from..to of k or v [B, Hkv, Nk, D]. */
function tokens(t: Float16Tensor, from: number, to: number): Float16Tensor {
  const [B, Hkv, Nk, D] = t.shape;
  const src = bitsOf(t);
  const data = new Uint16Array(B * Hkv * (to - from) * D);
  for (let h = 0; h < B * Hkv; h++) data.set(src.subarray((h * Nk + from) * D, (h * Nk + to) * D), h * (to - from) * D);
  return { data, shape: [B, Hkv, to - from, D], dtype: 'float16' };
}

gpuTest('webgpu float16: info names the path of each op and why', async (e) => {
  const ops = ['attention', 'attentionBackward', 'decode', 'kvCache'] as const;
  if (shaderF16) {
    check(e.info.float16 === 'f16 storage and f16 shaders (shader-f16), f32 accumulation', `info.float16: ${e.info.float16}`);
    // lavapipe offers no subgroup matrices: attention and its backward say so
    check(
      /^f16 shaders \(shader-f16\), f32 accumulation \(no subgroup matrices: the adapter offers no chromium-experimental-subgroup-matrix/.test(e.info.float16Ops.attention),
      `info.float16Ops.attention: ${e.info.float16Ops.attention}`,
    );
    check(
      /^f16 shaders \(shader-f16\), f32 accumulation \(no subgroup matrices: the adapter offers no chromium-experimental-subgroup-matrix/.test(e.info.float16Ops.attentionBackward),
      `info.float16Ops.attentionBackward: ${e.info.float16Ops.attentionBackward}`,
    );
    check(/^split-KV f16 shaders/.test(e.info.float16Ops.decode), `info.float16Ops.decode: ${e.info.float16Ops.decode}`);
    check(/^f16 storage/.test(e.info.float16Ops.kvCache), `info.float16Ops.kvCache: ${e.info.float16Ops.kvCache}`);
  } else {
    const why = /^converted to float32 at the copies in and out: the adapter has no shader-f16/;
    check(why.test(e.info.float16), `info.float16: ${e.info.float16}`);
    for (const op of ops) check(why.test(e.info.float16Ops[op]), `info.float16Ops.${op}: ${e.info.float16Ops[op]}`);
  }
});

gpuTest('webgpu float16: a KV cache, upload and read, keepOnDevice', async (e) => {
  const { half, widened } = halfCase(attentionInputs({ ...base, name: 'decode', R: 0, Nq: 1, Nk: 40, opts: { causal: true } }));
  const [B, Hkv, Nk, D] = half.k.shape;
  const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: 64, dtype: 'float16' });
  await cache.append({ k: tokens(half.k, 0, 25), v: tokens(half.v, 0, 25) });
  const [k, v] = await Promise.all([e.upload(tokens(half.k, 25, Nk)), e.upload(tokens(half.v, 25, Nk))]);
  check(k.dtype === 'float16', 'an upload keeps its dtype');
  sameBits(bitsOf(await k.read()), bitsOf(tokens(half.k, 25, Nk)), 'read() of an upload');
  await cache.append({ k, v });
  const { k: _k, v: _v, dout: _d, ...rest } = half;
  const cached = await e.attention({ ...rest, kv: cache });
  check(cached.data instanceof Uint16Array, 'out over the cache is half-float bits');
  assertF16Close(valuesOf(cached), referenceAttention(widened), F16_FORWARD, 'out over the cache');
  const kept = await e.attention({ ...rest, kv: cache, keepOnDevice: true });
  check(kept.dtype === 'float16', 'keepOnDevice keeps the dtype');
  sameBits(bitsOf(await kept.read()), bitsOf(cached), 'kept on the device');
  let refused = '';
  await cache.append({ k: widened.k, v: widened.v }).catch((err: Error) => (refused = err.message));
  check(/^k is float32 but the KvCache holds float16/.test(refused), `a float32 append is refused: ${refused}`);
  for (const t of [k, v, kept]) t.destroy();
  cache.destroy();
});

f16Test('property: the drawn shapes beyond self-attention, forward, lse and backward within the float16 tolerances', async (e) => {
  await fc.assert(
    fc.asyncProperty(drawnShape([16, 32], [5, 32]), async (d) => {
      const { half, widened } = halfCase(attentionInputs(caseOf(d)));
      const label = JSON.stringify(d);
      const { out, lse } = await e.attention({ ...half, returnLse: true });
      check(out.data instanceof Uint16Array, `${label}: out is half-float bits`);
      assertF16Close(valuesOf(out), referenceAttention(widened), F16_FORWARD, `${label} out`);
      assertF16Close(lse.data, referenceLse(widened), F16_FORWARD, `${label} lse`);
      const g = await e.attentionBackward(half);
      const ref = referenceAttentionBackward(widened);
      // a gradient that is zero in exact arithmetic comes out as the f32 products' rounding residue
      const grad = { ...F16_BACKWARD, floor: 2 ** -20 };
      for (const name of ['dq', 'dk', 'dv'] as const) assertF16Close(valuesOf(g[name]), ref[name], grad, `${label} ${name}`);
    }),
    { numRuns: 8, seed: 16016, endOnFailure: true },
  );
});

f16Test('the f16 programs run for half-float operands (forward: self-attention, general, decode; backward), the f32 ones for float32', async () => {
  // the backend's own timings name each kernel's shaderKey (the engine's give the kernel names only)
  const b = await createWebGPUBackend();
  try {
    check(b.info.timestampQuery, 'the adapter measures kernels (their keys name the f16 programs)');
    const keys = () => (b.lastTimings?.kernels ?? []).map((k) => k.key);
    const owner = {};
    const self = attentionInputs({ ...base, name: 'self', R: 2, opts: { causal: true } });
    const general = attentionInputs({ ...base, name: 'general', R: 0, Nq: 20, Nk: 37 });
    const decode = attentionInputs({ ...base, name: 'decode', R: 0, Nq: 2, Nk: 50, opts: { causal: true } });
    for (const [name, a] of [['self-attention', self], ['general', general], ['decode', decode]] as const) {
      const out = await b.attention(attentionProblem(halfCase(a).half, owner, true));
      check(out instanceof Uint16Array, `${name}: half-float bits out`);
      check(keys().length > 0 && keys().every((k) => /(^|\/)f16$/.test(k)), `${name}: half-float operands ran ${keys().join(', ')}`);
      if (name === 'decode') check(keys().some((k) => /\/nr2\/d8\/f16$/.test(k)), `decode: the split-KV program ran: ${keys().join(', ')}`);
      await b.attention(attentionProblem(a));
      check(keys().length > 0 && keys().every((k) => !/f16/.test(k)), `${name}: float32 ran ${keys().join(', ')}`);
    }
    const g = await b.attentionBackward(attentionBackwardProblem(halfCase(general).half, owner, true));
    check(g.dq instanceof Uint16Array && g.dk instanceof Uint16Array && g.dv instanceof Uint16Array, 'backward: half-float bits out');
    check(keys().length === 4 && keys().every((k) => /(^|\/)f16$/.test(k)), `backward: half-float operands ran ${keys().join(', ')}`);
  } finally {
    await b.close();
  }
});

f16Test('at the buffer wall, half-float calls run in parts with the bits of one call', async () => {
  // rpe [3, 4, 48, 48] float32 (110,592 bytes) is the largest buffer: a 40,000-byte wall splits the call
  const a = attentionInputs({ ...base, name: 'parts', seed: 1630, B: 3, H: 4, Hkv: 2, R: 3, opts: { causal: true, rpe: true } });
  const half = halfCase(a).half;
  const owner = {};
  const [whole, walled] = [await createWebGPUBackend(), await createWebGPUBackend({ bufferLimitBytes: 40000 })];
  try {
    const out = await whole.attention(attentionProblem(half, owner, true));
    const g = await whole.attentionBackward(attentionBackwardProblem(half, owner, true));
    const parted = await walled.attention(attentionProblem(half, owner, true));
    check(lastCallParts.count > 1, `the forward ran as ${lastCallParts.count} parts`);
    sameBits(parted as Uint16Array, out as Uint16Array, 'out in parts');
    const gp = await walled.attentionBackward(attentionBackwardProblem(half, owner, true));
    check(lastCallParts.count > 1, `the backward ran as ${lastCallParts.count} parts`);
    for (const name of ['dq', 'dk', 'dv'] as const) sameBits(gp[name] as Uint16Array, g[name] as Uint16Array, `${name} in parts`);
  } finally {
    await whole.close();
    await walled.close();
  }
});

/** The GPU buffer behind a DeviceTensor or a KV cache's k (internal fields: the bytes it holds). */
const bytesOf = (x: DeviceTensor<'float32' | 'float16'>): number => (x as unknown as { resident: { buffer: GPUBuffer } }).resident.buffer.size;
const cacheBytes = (c: KvCache): number => (c as unknown as { data: { k: { buffer: GPUBuffer } } }).data.k.buffer.size;

f16Test('a float16 upload, keepOnDevice result and KV cache hold half the bytes of float32 ones', async (e) => {
  const a = attentionInputs({ ...base, name: 'bytes', R: 2 });
  const h = halfTensor(a.q);
  const [f32, f16] = await Promise.all([e.upload(a.q), e.upload(h)]);
  check(bytesOf(f16) * 2 === bytesOf(f32), `upload: ${bytesOf(f16)} bytes, float32 ${bytesOf(f32)}`);
  sameBits(bitsOf(await f16.read()), h.data as Uint16Array, 'read() of a float16 upload');
  const [o32, o16] = [await e.attention({ ...a, keepOnDevice: true }), await e.attention({ ...halfCase(a).half, keepOnDevice: true })];
  check(bytesOf(o16) * 2 === bytesOf(o32), `keepOnDevice: ${bytesOf(o16)} bytes, float32 ${bytesOf(o32)}`);
  const o = { batch: 1, kvHeads: 2, headDim: 32, capacity: 64 };
  const [c32, c16] = [await e.createKvCache(o), await e.createKvCache({ ...o, dtype: 'float16' })];
  check(cacheBytes(c16) * 2 === cacheBytes(c32), `KV cache: ${cacheBytes(c16)} bytes, float32 ${cacheBytes(c32)}`);
  for (const t of [f32, f16, o32, o16]) t.destroy();
  c32.destroy();
  c16.destroy();
});

// decode over float16 caches: GQA, a single query and a few, causal and not, tokens appended in pieces
const decodeCases: AttentionCase[] = [
  { ...base, name: 'GQA 4:2, one query, causal', seed: 1611, H: 4, Hkv: 2, R: 0, Nq: 1, Nk: 70, opts: { causal: true } },
  { ...base, name: 'MQA, 5 queries, block 32, key padding', seed: 1612, H: 3, Hkv: 1, block: 32, D: 12, R: 0, Nq: 5, Nk: 90, opts: { keyPaddingMaskMode: 'add' } },
];
for (const c of decodeCases) {
  f16Test(`decode over a float16 KV cache: ${c.name}`, async (e) => {
    const { half, widened } = halfCase(attentionInputs(c));
    const [B, Hkv, Nk, D] = half.k.shape;
    const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity: 128, dtype: 'float16' });
    const cut = Math.floor(Nk / 3);
    await cache.append({ k: tokens(half.k, 0, cut), v: tokens(half.v, 0, cut) });
    await cache.append({ k: tokens(half.k, cut, Nk), v: tokens(half.v, cut, Nk) });
    const { k: _k, v: _v, dout: _d, ...rest } = half;
    const { out, lse } = await e.attention({ ...rest, kv: cache, returnLse: true });
    check(out.data instanceof Uint16Array, 'out is half-float bits');
    assertF16Close(valuesOf(out), referenceAttention(widened), F16_FORWARD, 'out over the cache');
    assertF16Close(lse.data, referenceLse(widened), F16_FORWARD, 'lse over the cache');
    cache.destroy();
  });
}

Deno.test({ name: 'teardown', ...opts, fn: async () => await gpu?.close() });
