// The CPU's decode path (src/cpu/decode.ts, assembly/attention-decode.ts): attention with at most 16
// query rows beyond self-attention splits each row's kept blocks into chunks and merges them. A
// fast-check property over GQA, qOffset, ragged keyLengths, per-batch and cyclic layouts, causal,
// masks, partial blocks, block and D, and the chunk size against the float64 reference; the same
// bits for 1, 2, 3 and 5 tasks and on a pool of two; a KV cache gives the bits of the same call with
// k, v tensors (and kept on the device); and the path is taken exactly where it should be (the kernels a call ran).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeTuning } from '../src/cpu/decode.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import type { Engine } from '../src/engine.js';
import { cpuEngines } from './helpers/cpu-engines.js';
import { CPU_TOL, assertClose, assertSameBits, referenceAttention, referenceLse, randomLayout, mulberry32 } from './reference/index.js';
import { attentionInputs } from './ops/inputs.js';
import { caseOf, type Drawn as Shape } from './helpers/shape-cases.js';

const Decode = suite('cpu decode path');

const E = cpuEngines(Decode);

/** The shared drawn shapes, with the decode path's chunk knobs. */
interface Drawn extends Shape {
  /** decodeTuning.chunkKeys: 1 makes every block its own chunk. */
  chunkKeys: number;
  maxChunks: number;
}

// the ranges of a decode: Nq ≤ 16 against more keys (never self-attention), blocks 16–128, D 32–256
const drawn: fc.Arbitrary<Drawn> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  ratio: fc.constantFrom(1, 2, 4),
  sharedLayoutHead: fc.boolean(),
  block: fc.constantFrom(16, 32, 64, 128),
  Nq: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 16 })),
  extraKeys: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 81, max: 700 })),
  offset: fc.constantFrom('default' as const, 'one' as const, 'rows' as const),
  offsets: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 2, maxLength: 2 }),
  ragged: fc.boolean(),
  lengths: fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 2, maxLength: 2 }),
  batchedLayout: fc.boolean(),
  D: fc.constantFrom(32, 37, 40, 64, 128, 256),
  causal: fc.boolean(),
  rpe: fc.boolean(),
  kpm: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  am: fc.constantFrom('none' as const, 'add' as const, 'mul' as const),
  density: fc.constantFrom(0.3, 0.6, 1),
  chunkKeys: fc.constantFrom(1, 48, 200, 512),
  maxChunks: fc.constantFrom(3, 64),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

const kernelsOf = (e: Engine): string[] => (e.lastTimings?.kernels ?? []).map((k) => k.kernel);

/** Runs f with the chunk knobs of `d`, put back after. */
async function withChunks<T>(d: Pick<Drawn, 'chunkKeys' | 'maxChunks'>, f: () => Promise<T>): Promise<T> {
  const saved = { ...decodeTuning };
  Object.assign(decodeTuning, { chunkKeys: d.chunkKeys, maxChunks: d.maxChunks });
  try {
    return await f();
  } finally {
    Object.assign(decodeTuning, saved);
    forceTaskCount(undefined);
  }
}

Decode('property: out and lse match the float64 reference; 1, 2, 3, 5 tasks and 2 threads give the same bits', async () => {
  await fc.assert(
    fc.asyncProperty(drawn, fc.boolean(), (d, useRelaxed) => withChunks(d, async () => {
      const a = attentionInputs(caseOf(d));
      const label = JSON.stringify(d);
      const e = useRelaxed ? E.relaxed : E.one;
      const { out, lse } = await e.attention({ ...a, returnLse: true });
      assert.ok(kernelsOf(e).includes('attentionDecode'), `${label}: the decode kernel ran`);
      assert.not.ok(kernelsOf(e).includes('attentionForward'), `${label}: the prefill kernel did not`);
      assertClose(out.data, referenceAttention(a), { ...CPU_TOL, label: `${label} out` });
      assertClose(lse.data, referenceLse(a), { ...CPU_TOL, label: `${label} lse` });
      assertSameBits((await e.attention(a)).data, out.data, `${label} out without returnLse`);
      if (useRelaxed) return;
      const pooled = await E.two.attention({ ...a, returnLse: true });
      assertSameBits(pooled.out.data, out.data, `${label} out, 2 threads`);
      assertSameBits(pooled.lse.data, lse.data, `${label} lse, 2 threads`);
      for (const tasks of [2, 3, 5]) {
        forceTaskCount(tasks);
        const forced = await E.one.attention({ ...a, returnLse: true });
        assertSameBits(forced.out.data, out.data, `${label} out, ${tasks} tasks`);
        assertSameBits(forced.lse.data, lse.data, `${label} lse, ${tasks} tasks`);
      }
    })),
    { numRuns: 60, seed: 15015, endOnFailure: true },
  );
});

Decode('a KV cache gives the bits of the same call with k, v tensors, its layout listing blocks past the length', async () => {
  const cases: Drawn[] = [
    { B: 2, Hkv: 2, ratio: 4, sharedLayoutHead: true, block: 32, Nq: 1, extraKeys: 300, offset: 'default', offsets: [0, 0], ragged: false, lengths: [0, 0], batchedLayout: false, D: 64, causal: true, rpe: false, kpm: 'none', am: 'none', density: 0.6, chunkKeys: 64, maxChunks: 64, seed: 51 },
    { B: 2, Hkv: 1, ratio: 2, sharedLayoutHead: false, block: 16, Nq: 5, extraKeys: 200, offset: 'rows', offsets: [7, 190], ragged: true, lengths: [0.3, 0.9], batchedLayout: true, D: 32, causal: true, rpe: true, kpm: 'add', am: 'mul', density: 0.3, chunkKeys: 1, maxChunks: 64, seed: 52 },
    { B: 1, Hkv: 2, ratio: 1, sharedLayoutHead: false, block: 64, Nq: 16, extraKeys: 500, offset: 'one', offsets: [100, 0], ragged: false, lengths: [0, 0], batchedLayout: false, D: 128, causal: false, rpe: false, kpm: 'mul', am: 'add', density: 1, chunkKeys: 512, maxChunks: 3, seed: 53 },
  ];
  for (const d of cases) {
    await withChunks(d, async () => {
      const label = JSON.stringify(d);
      const Nk = d.Nq + d.extraKeys;
      const extra = 3;
      const a = attentionInputs(caseOf(d, extra)); // the layout covers 3 blocks past Nk: the cache's capacity
      const capacity = Nk + extra * d.block - 5;
      const [B, Hkv, , D] = a.k.shape;
      for (const e of [E.one, E.two]) {
        const cache = await e.createKvCache({ batch: B, kvHeads: Hkv, headDim: D, capacity });
        // two appends, the second of the last tokens
        const split = Math.floor(Nk / 3);
        const part = (x: Float32Array, from: number, to: number) => {
          const data = new Float32Array(B * Hkv * (to - from) * D);
          for (let h = 0; h < B * Hkv; h++) data.set(x.subarray((h * Nk + from) * D, (h * Nk + to) * D), h * (to - from) * D);
          return { data, shape: [B, Hkv, to - from, D] };
        };
        await cache.append({ k: part(a.k.data, 0, split), v: part(a.v.data, 0, split) });
        await cache.append({ k: part(a.k.data, split, Nk), v: part(a.v.data, split, Nk) });
        const { k: _k, v: _v, ...rest } = a;
        const cached = await e.attention({ ...rest, kv: cache, returnLse: true });
        assert.ok(kernelsOf(e).includes('attentionDecode'), `${label}: the decode kernel ran over the cache`);
        const plain = await e.attention({ ...a, returnLse: true });
        assertSameBits(cached.out.data, plain.out.data, `${label} out, cache vs tensors`);
        assertSameBits(cached.lse.data, plain.lse.data, `${label} lse, cache vs tensors`);
        const kept = await e.attention({ ...rest, kv: cache, keepOnDevice: true });
        assertSameBits((await kept.read()).data, plain.out.data, `${label} out kept on the device`);
        kept.destroy();
        assertClose(cached.out.data, referenceAttention(a), { ...CPU_TOL, label: `${label} out` });
        assertClose(cached.lse.data, referenceLse(a), { ...CPU_TOL, label: `${label} lse` });
        cache.destroy();
      }
    });
  }
});

Decode('a row with nothing kept: zeros and lse −Infinity, beside rows split into many chunks', async () => {
  const block = 16;
  const Nk = 40 * block;
  const rng = mulberry32(61);
  const layout = randomLayout(2, 40, 40, 0.5, rng, { block });
  // the query (position Nk − 1) sits in block row 39: head 0 keeps all 40 blocks there, head 1 none
  for (let h = 0; h < 2; h++) for (let c = 0; c < 40; c++) layout.data[(h * 40 + 39) * 40 + c] = h === 0 ? 1 : 0;
  const a = attentionInputs({
    kind: 'attention', name: 'empty row', seed: 62, B: 1, H: 2, R: 0, block, D: 32, Nq: 1, Nk, opts: { causal: true },
  });
  a.layout = layout;
  await withChunks({ chunkKeys: 16, maxChunks: 64 }, async () => {
    for (const e of [E.one, E.two]) {
      const { out, lse } = await e.attention({ ...a, returnLse: true });
      assert.ok(kernelsOf(e).includes('attentionDecodeMerge'), 'head 0\'s 40 chunks were merged');
      assert.ok(out.data.subarray(32).every((x) => x === 0), 'the empty row is zeros');
      assert.is(lse.data[1], -Infinity);
      assertClose(out.data, referenceAttention(a), { ...CPU_TOL, label: 'out' });
      assertClose(lse.data, referenceLse(a), { ...CPU_TOL, label: 'lse' });
    }
  });
});

Decode('self-attention and more than 16 query rows keep the prefill kernel', async () => {
  const self = attentionInputs({ kind: 'attention', name: 'self', seed: 71, B: 1, H: 2, R: 1, block: 16, D: 32, opts: { causal: true } });
  await E.one.attention(self);
  assert.equal(kernelsOf(E.one), ['attentionForward']);
  const long = attentionInputs({ kind: 'attention', name: 'long', seed: 72, B: 1, H: 2, R: 0, block: 16, D: 32, Nq: 17, Nk: 90, opts: { causal: true } });
  await E.one.attention(long);
  assert.equal(kernelsOf(E.one), ['attentionForward']);
  const short = attentionInputs({ kind: 'attention', name: 'short', seed: 73, B: 1, H: 2, R: 0, block: 16, D: 32, Nq: 16, Nk: 90, opts: { causal: true } });
  await E.one.attention(short);
  assert.ok(kernelsOf(E.one).includes('attentionDecode'));
});

Decode.run();
