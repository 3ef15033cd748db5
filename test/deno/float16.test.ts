// Float16 storage on the WebGPU engine (lavapipe in CI), and the conversions against Deno's own
// Float16Array. A few small cases (lavapipe is slow): attention, lse and the backward with
// Float16Array and Uint16Array inputs within API.md's float16 tolerances of float64; the forward
// bit for bit the f32 path rounded once; a float16 KV cache; upload / read. The GPU cases are
// skipped, with the reason printed, where no adapter is found.
import { createEngine, type Engine } from '../../src/engine.ts';
import { fromFloat16, toFloat16 } from '../../src/float16.ts';
import type { Float16Tensor } from '../../src/types.ts';
import { F16_BACKWARD, F16_FORWARD, assertF16Close, bitsOf, halfCase, valuesOf } from '../helpers/float16.ts';
import { attentionInputs } from '../ops/inputs.ts';
import type { AttentionCase } from '../ops/cases.ts';
import { referenceAttention, referenceAttentionBackward, referenceLse } from '../reference/index.ts';

let gpu: Engine | null = null;
try {
  gpu = await createEngine({ backend: 'webgpu' });
} catch (e) {
  console.warn(`float16 webgpu tests skipped: ${(e as Error).message}`);
}
const opts = { sanitizeOps: false, sanitizeResources: false };
const gpuTest = (name: string, fn: (e: Engine) => Promise<void>) => Deno.test({ name, ignore: gpu === null, ...opts, fn: () => fn(gpu!) });

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

gpuTest('webgpu float16: a KV cache, upload and read, keepOnDevice, info', async (e) => {
  check(e.info.float16 === 'converted to float32 at the copies in and out; f32 kernels', `info.float16: ${e.info.float16}`);
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

Deno.test({ name: 'teardown', ...opts, fn: async () => await gpu?.close() });
