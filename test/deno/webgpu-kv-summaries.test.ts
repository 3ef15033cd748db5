// A KV cache's key summaries on WebGPU (gpu/kv-cache.ts: PoolRowsProgram after each append) and
// selectBlocks over a cache (lavapipe in CI): the summaries against the float64 reference
// (test/reference/key-summaries.ts) after appends that cross block boundaries, leave partial last
// blocks and follow resets, f32 and f16 caches; selectBlocks over the cache (kv) the same bytes as
// over its keys as a tensor (k), for both scores, read from the summaries or pooled on the fly, and
// the reference's selection (near ties excused); the bound score, read back (blockScores), at least
// every q·k·scale of its block for one query row, within the WebGPU tolerance (WGSL promises no
// rounding), and both scores from the summaries the bits of the pooled ones; bad input. Skipped, with the reason
// printed, where no adapter is found.
import { acquireDevice } from '../../gpu/device.ts';
import { GpuContext } from '../../gpu/context.ts';
import { GpuKvCache } from '../../gpu/kv-cache.ts';
import { blockScores } from '../../gpu/select-blocks.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { fromFloat16 } from '../../src/float16.ts';
import type { KvCacheHandle } from '../../src/kv-cache.ts';
import { selectBlocksProblem } from '../../src/select-blocks.ts';
import type { KvCache, SelectBlocksArgs, Tensor, TensorInput } from '../../src/types.ts';
import { halfTensor } from '../helpers/float16.ts';
import { GPU_TOL, assertClose, mulberry32, pick, randomInt, randomTensor, referenceKeySummaries, referenceSelectBlocks, type Rng } from '../reference/index.ts';
import { check, selectProblem, type Args } from './selection.ts';

let engine: Engine | null = null;
try {
  engine = await createEngine({ backend: 'webgpu' });
} catch (e) {
  console.warn(`webgpu kv summaries tests skipped: ${(e as Error).message}`);
}
const opts = { ignore: engine === null, sanitizeOps: false, sanitizeResources: false };
const f16 = engine !== null && (engine.info.features as string[]).includes('shader-f16');
const dtypes = f16 ? (['float32', 'float16'] as const) : (['float32'] as const);

/** Tokens from … to − 1 of every head of t [B, H, N, D], as [B, H, to − from, D]. */
function tokens(t: Tensor, from: number, to: number): Tensor {
  const [B, H, N, D] = t.shape;
  const out = new Float32Array(B * H * (to - from) * D);
  for (let h = 0; h < B * H; h++) out.set(t.data.subarray((h * N + from) * D, (h * N + to) * D), h * (to - from) * D);
  return { data: out, shape: [B, H, to - from, D] };
}

/** t with its values rounded to float16 (where `half`): the values a float16 cache holds. */
function rounded(t: Tensor, half: boolean): Tensor {
  return half ? { data: fromFloat16(halfTensor(t).data as Uint16Array), shape: [...t.shape] } : t;
}

/** t as the cache's dtype takes it. */
function input(t: Tensor, half: boolean): TensorInput {
  return half ? halfTensor(t) : t;
}

/** The cache's summaries equal the reference's over keys k [B, Hkv, length, D]: min and max exactly, the mean within the WebGPU tolerance. */
async function assertSummaries(cache: KvCache, k: Tensor, label: string): Promise<void> {
  const s = (cache as KvCacheHandle).data.summaries;
  if (!s) throw new Error(`${label}: the cache keeps no summaries`);
  const [BH, C, D] = [cache.batch * cache.kvHeads, Math.ceil(k.shape[2] / s.block), cache.headDim];
  const cut = async (r: typeof s.mean) => {
    const all = (await r.read()) as Float32Array;
    if (all.length !== BH * s.blocks * D) throw new Error(`${label}: ${all.length} floats of summaries, expected ${BH * s.blocks * D}`);
    const out = new Float32Array(BH * C * D);
    for (let h = 0; h < BH; h++) out.set(all.subarray(h * s.blocks * D, (h * s.blocks + C) * D), h * C * D);
    return out;
  };
  const ref = referenceKeySummaries(k, s.block);
  for (const [name, got, want] of [['min', await cut(s.min), ref.min], ['max', await cut(s.max), ref.max]] as const) {
    const i = got.findIndex((x, j) => x !== want[j]);
    if (i >= 0) throw new Error(`${label}: ${name}[${i}] is ${got[i]}, the reference ${want[i]}`);
  }
  assertClose(await cut(s.mean), ref.mean, { ...GPU_TOL, label: `${label}: mean` });
}

/** Tokens of the held keys after `n` more (a [B, Hkv, L + n, D] tensor). */
function joined(held: Tensor, k: Tensor): Tensor {
  const [B, H, L0, D] = held.shape;
  const n = k.shape[2];
  const L = L0 + n;
  const data = new Float32Array(B * H * L * D);
  for (let h = 0; h < B * H; h++) {
    data.set(held.data.subarray(h * L0 * D, (h + 1) * L0 * D), h * L * D);
    data.set(k.data.subarray(h * n * D, (h + 1) * n * D), (h * L + L0) * D);
  }
  return { data, shape: [B, H, L, D] };
}

/** One random case: a cache's appends (0: a reset) and a selection over it. */
function drawCase(rng: Rng) {
  const B = randomInt(rng, 1, 2);
  const Hkv = pick(rng, [1, 2]);
  // D 64: four vec4 columns per thread group, so a row group walks several rows of a block
  const D = pick(rng, [6, 16, 64]);
  const block = pick(rng, [4, 16]);
  const appends = Array.from({ length: randomInt(rng, 2, 5) }, () => (rng() < 0.15 ? 0 : pick(rng, [1, 3, randomInt(rng, 1, 40)])));
  appends.push(randomInt(rng, 1, 9)); // the cache holds tokens at the end
  // spare capacity: the summaries hold more blocks than the keys fill
  return { B, Hkv, Hq: Hkv * pick(rng, [1, 2]), D, block, appends, spare: pick(rng, [0, 0, 300]), Nq: pick(rng, [1, 1, 3]) };
}

Deno.test('webgpu: summaries after appends across block boundaries and resets equal the reference; kv selects as k does (mean, bound; f32, f16)', opts, async () => {
  const e = engine!;
  const rng = mulberry32(4111);
  let fromSummaries = 0;
  let pooled = 0;
  for (let i = 0; i < 12; i++) {
    const d = drawCase(rng);
    const half = dtypes[i % dtypes.length] === 'float16';
    const label = `case ${i} ${JSON.stringify(d)}${half ? ' float16' : ''}`;
    const capacity = d.appends.reduce((a, b) => a + b, 0) + d.spare;
    const cache = await e.createKvCache({ batch: d.B, kvHeads: d.Hkv, headDim: d.D, capacity, dtype: half ? 'float16' : 'float32', summaryBlock: d.block });
    try {
      let held: Tensor = { data: new Float32Array(0), shape: [d.B, d.Hkv, 0, d.D] };
      for (const n of d.appends) {
        if (n === 0) {
          cache.reset();
          held = { data: new Float32Array(0), shape: [d.B, d.Hkv, 0, d.D] };
          continue;
        }
        const k = rounded(randomTensor([d.B, d.Hkv, n, d.D], rng), half);
        const v = randomTensor([d.B, d.Hkv, n, d.D], rng);
        await cache.append({ k: input(k, half), v: input(v, half) });
        held = joined(held, k);
        await assertSummaries(cache, held, `${label}, after ${held.shape[2]} tokens`);
      }
      const L = held.shape[2];
      const q = rounded(randomTensor([d.B, d.Hq, d.Nq, d.D], rng), half);
      for (const score of ['mean', 'bound'] as const) {
        const otherBlock = rng() < 0.25;
        const block = otherBlock ? d.block * 2 : d.block;
        // key lengths at a block's end keep the summaries; elsewhere they are pooled on the fly
        const keyLengths = rng() < 0.4 ? Array.from({ length: d.B }, () => (rng() < 0.5 ? Math.max(1, Math.floor(L / d.block)) * d.block : randomInt(rng, 1, L))).map((n) => Math.min(n, L)) : undefined;
        const qOffset = Math.min(...(keyLengths ?? [L])) < d.Nq ? 0 : undefined;
        const rule = rng() < 0.5 ? { topK: randomInt(rng, 1, 4) } : { threshold: pick(rng, [0.5, 0.9]) };
        const causal = rng() < 0.5;
        const args: SelectBlocksArgs = { q: input(q, half), block: otherBlock ? block : undefined, score, causal, keyLengths: keyLengths && Int32Array.from(keyLengths), qOffset, ...rule };
        const expectHeld = !otherBlock && (keyLengths ?? [L]).every((n) => n === L || n % d.block === 0);
        const problem = selectBlocksProblem({ ...args, kv: cache }, e);
        if ((problem.summaries !== undefined) !== expectHeld) throw new Error(`${label} ${score}: summaries read ${problem.summaries !== undefined}, expected ${expectHeld}`);
        if (expectHeld) fromSummaries++;
        else pooled++;
        const viaKv = await e.selectBlocks({ ...args, kv: cache });
        const viaK = await e.selectBlocks({ ...args, k: input(held, half), block });
        if (viaKv.data.some((x, j) => x !== viaK.data[j])) throw new Error(`${label} ${score}: kv and k select differently`);
        const ref: Args = { q, k: held, block, score, causal, keyLengths, qOffset, ...rule };
        check(viaKv.data, ref, `${label} ${score}`);
      }
    } finally {
      cache.destroy();
    }
  }
  // both paths ran: the summaries and the fallback
  if (fromSummaries < 4 || pooled < 2) throw new Error(`${fromSummaries} calls read the summaries, ${pooled} pooled the keys`);
});

Deno.test('webgpu: after a reset, the summaries hold only the tokens appended since', opts, async () => {
  const rng = mulberry32(37);
  const cache = await engine!.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 32, summaryBlock: 8 });
  const big = randomTensor([1, 1, 20, 4], rng, { min: 5, max: 9 });
  await cache.append({ k: big, v: big });
  cache.reset();
  const small = randomTensor([1, 1, 3, 4], rng);
  await cache.append({ k: small, v: small });
  await assertSummaries(cache, small, 'after reset');
  cache.destroy();
});

Deno.test('webgpu scores: the bound, for one query row, at least every q·k·scale of its block (within the tolerance); from the summaries the bits of the pooled scores (mean, bound)', opts, async () => {
  const { device, limits, release } = await acquireDevice();
  const ctx = new GpuContext(device, limits, false, 0);
  const serial = <T>(f: () => Promise<T>) => f();
  try {
    const rng = mulberry32(53);
    for (let i = 0; i < 24; i++) {
      const [n, D, block, Hkv] = [randomInt(rng, 1, 150), pick(rng, [1, 5, 16, 33]), pick(rng, [1, 3, 16]), pick(rng, [1, 2])];
      const scale = pick(rng, [undefined, 0.5, 3, -1]);
      const half = f16 && i % 3 === 2;
      // past 64 blocks of capacity the summaries hold more rows per head than the pooled keys
      const capacity = n + pick(rng, [5, 64 * block + 5]);
      const label = `n ${n} D ${D} block ${block} Hkv ${Hkv} capacity ${capacity} scale ${scale}${half ? ' float16' : ''}`;
      const q = rounded(randomTensor([1, Hkv, 1, D], rng, { min: -3, max: 3 }), half);
      const k = rounded(randomTensor([1, Hkv, n, D], rng, { min: -3, max: 3 }), half);
      const cache = await GpuKvCache.create(ctx, 1, Hkv, D, capacity, serial, half ? 'float16' : 'float32', block);
      try {
        const keys = half ? (halfTensor(k).data as Uint16Array) : k.data;
        await cache.write(keys, keys, 0, n);
        const C = Math.ceil(n / block);
        for (const score of ['mean', 'bound'] as const) {
          const args: Args = { q, k, block, topK: 1, score, scale };
          const ref = referenceSelectBlocks(args);
          const R = ref.shape[2];
          const p = selectProblem(args, half ? (halfTensor(q).data as Uint16Array) : q.data, keys);
          const pooled = await blockScores(ctx, p);
          const held = await blockScores(ctx, { ...p, k: cache.k, kvStride: capacity, summaries: cache.summaries });
          for (let h = 0; h < Hkv; h++) {
            const row = (h * R + R - 1) * C; // the one block row holding the query
            const c0 = held.subarray(row, row + C).findIndex((x, c) => x !== pooled[row + c]);
            if (c0 >= 0) throw new Error(`${label} ${score}: head ${h}, block ${c0}: from the summaries ${held[row + c0]}, pooled ${pooled[row + c0]}`);
            assertClose(held.subarray(row, row + C), ref.scores.subarray(row, row + C), { ...GPU_TOL, label: `${label} ${score}: head ${h}` });
            const s = scale ?? 1 / Math.sqrt(D);
            if (score === 'mean' || s < 0) continue; // the bound bounds from above for a positive scale
            for (let j = 0; j < n; j++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q.data[h * D + d] * k.data[(h * n + j) * D + d];
              const want = dot * s;
              const bound = held[row + Math.floor(j / block)];
              if (bound < want - (GPU_TOL.atol + GPU_TOL.rtol * Math.abs(want))) throw new Error(`${label}: head ${h}, key ${j}: bound ${bound} < q·k·scale ${want}`);
            }
          }
        }
      } finally {
        cache.destroy();
      }
    }
  } finally {
    release();
  }
});

async function rejects(p: Promise<unknown>, type: ErrorConstructor, pattern: RegExp, label: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof type) || !pattern.test((e as Error).message)) throw new Error(`${label}: ${String(e)}`);
    return;
  }
  throw new Error(`${label}: did not reject`);
}

Deno.test('webgpu: bad input: a bad summaryBlock or score, a destroyed cache; the engine stays usable', opts, async () => {
  const e = engine!;
  const rng = mulberry32(47);
  const k = randomTensor([1, 1, 16, 4], rng);
  const q = randomTensor([1, 1, 1, 4], rng);
  for (const [summaryBlock, type] of [[0, RangeError], [1.5, TypeError], ['8', TypeError]] as const) {
    await rejects(e.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 16, summaryBlock: summaryBlock as number }), type, /^summaryBlock must be a positive integer/, `summaryBlock ${summaryBlock}`);
  }
  const cache = await e.createKvCache({ batch: 1, kvHeads: 1, headDim: 4, capacity: 16, summaryBlock: 4 });
  await cache.append({ k, v: k });
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1, score: 'max' as 'mean' }), RangeError, /^score must be 'mean' or 'bound', got 'max'/, 'score');
  for (const score of ['mean', 'bound'] as const) {
    const viaKv = await e.selectBlocks({ q, kv: cache, topK: 1, score });
    const viaK = await e.selectBlocks({ q, k, block: 4, topK: 1, score });
    if (viaKv.data.some((x, i) => x !== viaK.data[i])) throw new Error(`${score} after the refusals: kv and k select differently`);
  }
  cache.destroy();
  await rejects(e.selectBlocks({ q, kv: cache, topK: 1 }), TypeError, /destroyed KvCache/, 'destroyed');
});

Deno.test({ name: 'teardown', ...opts, fn: async () => { await engine?.close(); } });
