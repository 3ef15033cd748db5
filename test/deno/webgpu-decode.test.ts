// The WebGPU split-KV path for few query rows (gpu/attention-decode.ts, lavapipe in CI): seeded
// random calls with Nq 1..16 over GQA, query offsets (one and per batch row), ragged key lengths,
// a layout per batch row, cyclic layout heads, causal, rpe and both masks, partial blocks, blocks
// 16..128, head dims 32..256 and empty rows, against the float64 reference with the lse; the same
// call over a KV cache against k and v; that such calls run the split and merge programs; and that
// a kv group's query heads share a workgroup exactly where their layout rows agree (decodePack).
// Skipped, with the reason printed, where no adapter is found.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.ts';
import { acquireDevice } from '../../gpu/device.ts';
import { GpuContext } from '../../gpu/context.ts';
import type { GpuResident } from '../../gpu/resident.ts';
import { attentionForwardWithLse } from '../../gpu/attention-forward.ts';
import { decodePack } from '../../gpu/attention-decode.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import type { AttentionArgs, BatchedLayout, Layout, Tensor } from '../../src/types.ts';
import {
  GPU_TOL,
  assertClose,
  mulberry32,
  pick,
  randomAttnMask,
  randomInt,
  randomKeyPaddingMask,
  randomLayout,
  randomTensor,
  referenceAttention,
  referenceLse,
  type Rng,
} from '../reference/index.ts';
import { attentionProblem } from './problems.ts';

let backend: WebGPUBackend | null = null;
let skipReason = '';
try {
  backend = await createWebGPUBackend();
} catch (e) {
  skipReason = (e as Error).message;
  console.warn(`webgpu decode tests skipped: ${skipReason}`);
}
const opts = { ignore: backend === null, sanitizeOps: false, sanitizeResources: false };

type Args = AttentionArgs & { q: Tensor; k: Tensor; v: Tensor };

/** One random decode-shaped call: few rows at the end of (or inside) longer keys. */
function randomDecodeArgs(rng: Rng, Nq: number): { args: Args; label: string } {
  const block = pick(rng, [16, 32, 64, 128]);
  const D = pick(rng, [32, 36, 64, 128, 256]);
  const B = randomInt(rng, 1, 3);
  const Hkv = pick(rng, [1, 2]);
  const H = Hkv * pick(rng, [1, 2, 4]);
  const Nk = randomInt(rng, Math.max(Nq, 20), block >= 64 ? 400 : 260);
  const causal = rng() < 0.6;
  const ragged = rng() < 0.3;
  const keyLengths = ragged ? Int32Array.from({ length: B }, () => randomInt(rng, Nq, Nk)) : undefined;
  let qOffset: number | Int32Array | undefined;
  const off = rng();
  if (!ragged && off < 0.25) qOffset = randomInt(rng, 0, Nk - Nq);
  else if (!ragged && off < 0.5) qOffset = Int32Array.from({ length: B }, () => randomInt(rng, 0, Nk - Nq));
  const last = Math.max(...(qOffset === undefined ? [keyLengths ? Math.max(...keyLengths) : Nk] : typeof qOffset === 'number' ? [qOffset + Nq] : Array.from(qOffset, (o) => o + Nq)));
  const [R, C] = [Math.ceil(last / block), Math.ceil(Nk / block)];
  const Hl = pick(rng, [H, 1, Math.max(1, H / 2)]);
  const batched = rng() < 0.3;
  const density = pick(rng, [0.3, 0.7, 1]);
  const emptyRows = rng() < 0.2;
  const flat = randomLayout((batched ? B : 1) * Hl, R, C, density, rng, { block, ensureRowNonEmpty: !emptyRows, ensureDiagonal: causal && !emptyRows });
  const layout: Layout | BatchedLayout = batched ? { block, shape: [B, Hl, R, C], data: flat.data } : flat;
  const args: Args = {
    q: randomTensor([B, H, Nq, D], rng),
    k: randomTensor([B, Hkv, Nk, D], rng),
    v: randomTensor([B, Hkv, Nk, D], rng),
    layout,
    causal,
    returnLse: true,
  };
  if (keyLengths) args.keyLengths = keyLengths;
  if (qOffset !== undefined) args.qOffset = qOffset;
  const terms: string[] = [];
  if (rng() < 0.25) {
    args.rpe = randomTensor([B, H, Nq, Nk], rng);
    terms.push('rpe');
  }
  if (rng() < 0.25) {
    const mode = pick(rng, ['add', 'mul'] as const);
    args.keyPaddingMask = randomKeyPaddingMask(B, Nk, rng, { mode });
    args.keyPaddingMaskMode = mode;
    terms.push(`kpm ${mode}`);
  }
  if (rng() < 0.25) {
    const mode = pick(rng, ['add', 'mul'] as const);
    args.attnMask = randomAttnMask(Nq, Nk, rng, { mode });
    args.attnMaskMode = mode;
    terms.push(`am ${mode}`);
  }
  const label = `B ${B} H ${H}/${Hkv} Nq ${Nq} Nk ${Nk} D ${D} block ${block} layout [${layout.shape}] density ${density}` +
    `${causal ? ' causal' : ''}${keyLengths ? ` keyLengths [${keyLengths}]` : ''}${qOffset !== undefined ? ` qOffset ${qOffset}` : ''} ${terms.join(' ')}`;
  return { args, label };
}

const ROWS = [1, 1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 16];
for (let i = 0; i < ROWS.length + 4; i++) {
  const Nq = ROWS[i % ROWS.length];
  const seed = 1500 + i;
  const { args, label } = randomDecodeArgs(mulberry32(seed), Nq);
  Deno.test({
    name: `decode vs float64: seed ${seed}: ${label}`,
    ...opts,
    fn: async () => {
      const got = await backend!.attentionWithLse(attentionProblem(args));
      assertClose(got.out as Float32Array, referenceAttention(args), { ...GPU_TOL, label: `${label}: out` });
      const lse = referenceLse(args);
      for (let r = 0; r < lse.length; r++) {
        if ((lse[r] === -Infinity) !== (got.lse[r] === -Infinity)) throw new Error(`${label}: lse row ${r}: ${got.lse[r]}, expected ${lse[r]}`);
      }
      const finite = (x: ArrayLike<number>) => Array.from(x, (y) => (y === -Infinity ? 0 : y));
      assertClose(finite(got.lse), finite(lse), { ...GPU_TOL, label: `${label}: lse` });
    },
  });
}

Deno.test({
  name: 'decode over a KV cache equals the call with k and v, step after step (GQA, causal, capacity past the keys)',
  ...opts,
  fn: async () => {
    const engine: Engine = await createEngine({ backend: 'webgpu' });
    try {
      const rng = mulberry32(1600);
      const [B, H, Hkv, D, block, capacity] = [2, 4, 2, 64, 32, 200];
      const layout = randomLayout(H, Math.ceil(capacity / block), Math.ceil(capacity / block), 0.6, rng, { block, ensureDiagonal: true });
      const cache = await engine.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity });
      const keys: Tensor[] = [];
      const values: Tensor[] = [];
      for (const [n, Nq] of [[70, 1], [1, 1], [8, 8], [49, 16]] as const) {
        const k = randomTensor([B, Hkv, n, D], rng);
        const v = randomTensor([B, Hkv, n, D], rng);
        await cache.append({ k, v });
        keys.push(k);
        values.push(v);
        const q = randomTensor([B, H, Nq, D], rng);
        const viaCache = await engine.attention({ q, kv: cache, layout, causal: true, returnLse: true });
        const kernels = engine.lastTimings?.kernels?.map((t) => t.kernel) ?? [];
        if (kernels.length && !kernels.includes('AttentionDecodeProgram')) throw new Error(`Nq ${Nq}: the cache call ran ${kernels}`);
        const direct = await engine.attention({ q, k: concat(keys, D), v: concat(values, D), layout, causal: true, returnLse: true });
        const label = `cache length ${cache.length}, Nq ${Nq}`;
        assertClose(viaCache.out.data, direct.out.data, { ...GPU_TOL, label: `${label}: out` });
        assertClose(viaCache.lse.data, direct.lse.data, { ...GPU_TOL, label: `${label}: lse` });
        const args = { q, k: concat(keys, D), v: concat(values, D), layout, causal: true };
        assertClose(viaCache.out.data, referenceAttention(args), { ...GPU_TOL, label: `${label}: out vs float64` });
      }
    } finally {
      await engine.close();
    }
  },
});

/** Tokens [B, Hkv, n_i, D] appended along the sequence axis. */
function concat(parts: Tensor[], D: number): Tensor {
  const [B, Hkv] = parts[0].shape;
  const N = parts.reduce((a, t) => a + t.shape[2], 0);
  const data = new Float32Array(B * Hkv * N * D);
  for (let bh = 0; bh < B * Hkv; bh++) {
    let at = bh * N * D;
    for (const t of parts) {
      const n = t.shape[2] * D;
      data.set(t.data.subarray(bh * n, bh * n + n), at);
      at += n;
    }
  }
  return { data, shape: [B, Hkv, N, D] };
}

Deno.test({
  name: 'few query rows beyond self-attention take the split and merge programs; 17 rows and self-attention do not',
  ...opts,
  fn: async () => {
    const acquired = await acquireDevice({});
    try {
      const ctx = new GpuContext(acquired.device, acquired.limits, acquired.timestampQuery, acquired.subgroupSize);
      const rng = mulberry32(1700);
      const call = (Nq: number, Nk: number) => {
        const layout = randomLayout(2, Math.ceil(Nk / 16), Math.ceil(Nk / 16), 1, rng, { block: 16 });
        return attentionProblem({ q: randomTensor([1, 2, Nq, 32], rng), k: randomTensor([1, 2, Nk, 32], rng), v: randomTensor([1, 2, Nk, 32], rng), layout, causal: true });
      };
      // pipelines are cached by program: the split path adds two (split, merge), a prefill one
      const added = async (Nq: number, Nk: number) => {
        const before = ctx.pipelines.size;
        await attentionForwardWithLse(ctx, call(Nq, Nk));
        const names = ctx.lastTimings?.kernels.map((k) => k.kernel);
        return { n: ctx.pipelines.size - before, names };
      };
      const decode = await added(4, 100);
      if (decode.n !== 2) throw new Error(`Nq 4 of 100 keys built ${decode.n} pipelines, expected the split and the merge`);
      if (decode.names && decode.names.join() !== 'AttentionDecodeProgram,AttentionDecodeMergeProgram') throw new Error(`Nq 4 ran ${decode.names}`);
      const prefill = await added(17, 100);
      if (prefill.n !== 1 || (prefill.names && prefill.names.join() !== 'AttentionForwardProgram')) throw new Error(`Nq 17: ${JSON.stringify(prefill)}`);
      const self = await added(16, 16);
      if (self.n !== 1 || (self.names && self.names.join() !== 'AttentionForwardProgram')) throw new Error(`self-attention at 16: ${JSON.stringify(self)}`);
    } finally {
      acquired.release();
    }
  },
});

Deno.test({
  name: 'timings: false: a keepOnDevice decode call leaves no timings, and its output is right once read',
  ...opts,
  fn: async () => {
    const untimed = await createWebGPUBackend({ timings: false });
    try {
      const { args, label } = randomDecodeArgs(mulberry32(1501), 1);
      const out = await untimed.attention({ ...attentionProblem(args), keepOnDevice: true });
      if (untimed.lastTimings !== null) throw new Error(`timings: false measured ${JSON.stringify(untimed.lastTimings)}`);
      const data = await (out as GpuResident).read();
      assertClose(data, referenceAttention(args), { ...GPU_TOL, label });
    } finally {
      await untimed.close();
    }
  },
});

Deno.test({
  name: 'decode packs the query heads of a kv group whose layout rows agree, and not those whose rows differ; both match float64',
  ...opts,
  fn: async () => {
    const rng = mulberry32(1800);
    for (const [Nq, H, Hkv, oneHead, expected] of [[1, 8, 1, true, 8], [2, 8, 2, true, 4], [3, 4, 1, true, 4], [16, 4, 1, true, 1], [1, 8, 2, false, 1]] as const) {
      const [D, block, Nk] = [64, 32, 300];
      const C = Math.ceil(Nk / block);
      const layout = randomLayout(oneHead ? 1 : H, C, C, 0.5, rng, { block, ensureRowNonEmpty: true, ensureDiagonal: true });
      const args: Args = {
        q: randomTensor([1, H, Nq, D], rng), k: randomTensor([1, Hkv, Nk, D], rng), v: randomTensor([1, Hkv, Nk, D], rng),
        layout, causal: true, returnLse: true,
      };
      const p = attentionProblem(args);
      const pack = decodePack(p);
      if (pack !== expected) throw new Error(`Nq ${Nq} H ${H}/${Hkv} ${oneHead ? 'one-head' : 'per-head'} layout: pack ${pack}, expected ${expected}`);
      const got = await backend!.attentionWithLse(p);
      assertClose(got.out as Float32Array, referenceAttention(args), { ...GPU_TOL, label: `pack ${pack}: out` });
      assertClose(got.lse, referenceLse(args), { ...GPU_TOL, label: `pack ${pack}: lse` });
    }
  },
});

Deno.test({
  name: 'query offsets past 2^24 are exact (they were read through one float: 2^25 − 1 ran as 2^25, a block row past the layout), decode and prefill',
  ...opts,
  fn: async () => {
    const rng = mulberry32(1900);
    const [block, Nk, D] = [1024, 32, 4];
    // decode shapes (Nq ≤ 16) and a prefill one (the forward dispatches only the block rows from the
    // offset: all of them up to it took lavapipe 18 s here)
    for (const [Nq, off] of [[1, 2 ** 25 - 1], [2, 2 ** 24 + 1], [16, 2 ** 24 + 3], [20, 2 ** 24 + 5]] as const) {
      const R = Math.ceil((off + Nq) / block);
      const data = new Uint8Array(R);
      data[R - 1] = 1;
      data[Math.floor(off / block)] = 1;
      const args: Args = {
        q: randomTensor([1, 1, Nq, D], rng), k: randomTensor([1, 1, Nk, D], rng), v: randomTensor([1, 1, Nk, D], rng),
        layout: { block, shape: [1, R, 1], data }, qOffset: off, causal: true, returnLse: true,
      };
      const got = await backend!.attentionWithLse(attentionProblem(args));
      assertClose(got.out as Float32Array, referenceAttention(args), { ...GPU_TOL, label: `Nq ${Nq} qOffset ${off}: out` });
      assertClose(got.lse, referenceLse(args), { ...GPU_TOL, label: `Nq ${Nq} qOffset ${off}: lse` });
    }
  },
});

Deno.test({ name: 'teardown', ...opts, fn: async () => await backend!.close() });
