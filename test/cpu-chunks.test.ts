// CPU attention at the memory wall (src/attention-parts.ts): under a lowered wall (arenaTuning.maxBytes) a
// call that does not fit runs in parts, halves of its batch rows, then of its heads, and gives the
// same bits as one call; a part that cannot be halved and does not fit rejects with the wall's
// RangeError and leaves the engine usable. Multi-head, GQA and MQA; both builds, one thread and a pool.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import { arenaTuning } from '../src/cpu/arena.js';
import { lastCallParts } from '../src/attention-parts.js';
import { attentionTuning } from '../src/cpu/attention.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import type { Tensor } from '../src/types.js';
import {
  CPU_TOL, assertClose, mulberry32, randomAttentionArgs, randomTensor, referenceAttentionBackward, type HostAttentionBackwardArgs, assertSameBits,
} from './reference/index.js';
import { attentionInputs } from './ops/inputs.js';


const t = suite('attention in parts at the memory wall');
const engines: Engine[] = [];
t.after(async () => {
  arenaTuning.maxBytes = Infinity;
  forceTaskCount(undefined);
  await Promise.all(engines.splice(0).map((e) => e.close()));
});


// B 3, H 4: the forward splits down to 12 single query heads; the backward down to single kv
// groups (a kv head with its query heads), as dk and dv sum over a group: 12, 6 or 3 parts.
const CASES = [
  { name: 'multi-head', kvHeads: 4, singleHeadParts: 12, backwardParts: 12 },
  { name: 'GQA 4/2', kvHeads: 2, singleHeadParts: 12, backwardParts: 6 },
  { name: 'MQA 4/1', kvHeads: 1, singleHeadParts: 12, backwardParts: 3 },
  // beyond self-attention: queries against longer keys at per-row offsets, partial last blocks, a layout per batch row
  // (its k and v, longer than q, meet the smallest walls first, at 5 or 6 parts as the walls fall: here
  // it is enough that some part split a batch row's heads, more than 3 parts)
  { name: 'GQA 4/2, Nq 40 against Nk 100 at offsets 60, 10, 33, a layout per batch row', kvHeads: 2, singleHeadParts: 4, backwardParts: 4, real: true },
] as const;

/** The real-shapes case's inputs, drawn as the op suite draws them. */
function realShapes(kvHeads: number): HostAttentionBackwardArgs {
  return attentionInputs({
    kind: 'attention', name: 'parts', seed: 2026, B: 3, H: 4, R: 0, block: 32, D: 32, Hkv: kvHeads,
    Nq: 40, Nk: 100, qOffset: [60, 10, 33], batchedLayout: true,
    opts: { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' },
  });
}

for (const c of CASES) {
  const rng = mulberry32(2026);
  const args = 'real' in c ? realShapes(c.kvHeads) : randomAttentionArgs(rng, {
    shape: { B: 3, H: 4, N: 128, D: 32, block: 32, R: 4 }, kvHeads: c.kvHeads,
    causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul',
  });
  const dout: Tensor = 'real' in c ? (args as HostAttentionBackwardArgs).dout : randomTensor((args.q as Tensor).shape, rng);

  for (const [simd, threads] of [['simd', 1], ['relaxed', 2]] as const) {
    t(`${c.name}, ${simd}, ${threads} thread(s): parts give one call's bits (out, lse, dq, dk, dv); past the last split, the wall's RangeError`, async () => {
      const engine = await createEngine({ backend: 'cpu', threads, simd });
      engines.push(engine);
      arenaTuning.maxBytes = Infinity;
      const whole = await engine.attention({ ...args, returnLse: true });
      const grads = await engine.attentionBackward({ ...args, dout });
      assert.is(lastCallParts.count, 1);
      const forwardSeen = new Set<number>();
      const backwardSeen = new Set<number>();
      let forwardRefused = false;
      let backwardRefused = false;
      // walls from 32 MiB down, in steps of 15%: each call either matches the whole call bit for bit or is refused
      for (let wall = 32 * 2 ** 20; wall >= 2 ** 14 && !forwardRefused; wall = Math.floor(wall * 0.85)) {
        arenaTuning.maxBytes = wall;
        try {
          const got = await engine.attention({ ...args, returnLse: true });
          forwardSeen.add(lastCallParts.count);
          assertSameBits(got.out.data, whole.out.data, `out at a ${wall}-byte wall`);
          assertSameBits(got.lse.data, whole.lse.data, `lse at a ${wall}-byte wall`);
        } catch (e) {
          isWallError(e);
          forwardRefused = true;
        }
        if (backwardRefused) continue;
        try {
          const g = await engine.attentionBackward({ ...args, dout });
          backwardSeen.add(lastCallParts.count);
          assertSameBits(g.dq.data, grads.dq.data, `dq at a ${wall}-byte wall`);
          assertSameBits(g.dk.data, grads.dk.data, `dk at a ${wall}-byte wall`);
          assertSameBits(g.dv.data, grads.dv.data, `dv at a ${wall}-byte wall`);
        } catch (e) {
          isWallError(e);
          backwardRefused = true;
        }
      }
      assert.ok(forwardRefused && backwardRefused, 'the smallest wall refuses both');
      assert.ok([...forwardSeen].some((n) => n > 1 && n <= 3), `some wall made parts of batch rows (forward parts seen: ${[...forwardSeen]})`);
      const reached = (seen: Set<number>, parts: number) => ('real' in c ? Math.max(...seen) >= parts : seen.has(parts));
      assert.ok(reached(forwardSeen, c.singleHeadParts), `the forward split down to single query heads (parts seen: ${[...forwardSeen]})`);
      assert.ok(reached(backwardSeen, c.backwardParts), `the backward split down to single kv groups (parts seen: ${[...backwardSeen]})`);
      // usable again once the wall is back
      arenaTuning.maxBytes = Infinity;
      assertSameBits((await engine.attention(args)).data, whole.out.data, 'out after the refusal');
      assert.is(lastCallParts.count, 1);
    });
  }
}

// Issue 14 (Phi-3-small's Hq 32 / Hkv 8 at N 32768): one kv group's P and dS slots alone pass the wall,
// so no part fits whole; the backward runs the group's query heads as chunks, each adding to dk, dv
// in head order. Under a wall of one group's slots: the float64 reference's values and the bits of
// the unlimited call, for 1 and 2 threads and forced task counts; the same under a slot budget of
// under a group; under a wall of one query head's slots, the wall's RangeError.
t("GQA 8/2 backward where one group's slots pass the wall or the slot budget: chunks of query heads give the reference, the same bits for every thread and task count", async () => {
  const block = 32;
  const R = 16;
  const [H, Hkv] = [8, 2];
  const rng = mulberry32(1414);
  const a = randomAttentionArgs(rng, {
    shape: { B: 1, H, N: R * block, D: 32, block, R }, kvHeads: Hkv, causal: true, density: 0.9, keyPaddingMaskMode: 'add',
  });
  const args: HostAttentionBackwardArgs = { ...a, dout: randomTensor(a.q.shape, rng) };
  // a head's slots: P and dS, block × block floats (block a multiple of 8), per entry of its layout
  const layout = args.layout as { data: ArrayLike<number> };
  const headSlotBytes = (h: number) => {
    let n = 0;
    for (let i = h * R * R; i < (h + 1) * R * R; i++) n += layout.data[i] !== 0 ? 1 : 0;
    return 2 * n * block * block * 4;
  };
  const G = H / Hkv;
  const groupSlotBytes = Math.min(...Array.from({ length: Hkv }, (_, g) => Array.from({ length: G }, (_, j) => headSlotBytes(g * G + j)).reduce((x, y) => x + y)));
  const one = await createEngine({ backend: 'cpu', threads: 1, simd: 'simd' });
  const two = await createEngine({ backend: 'cpu', threads: 2, simd: 'simd' });
  engines.push(one, two);
  const { slotBudgetBytes } = attentionTuning;
  try {
    arenaTuning.maxBytes = Infinity;
    const whole = await one.attentionBackward(args);
    const ref = referenceAttentionBackward(args);
    for (const name of ['dq', 'dk', 'dv'] as const) assertClose(whole[name].data, ref[name], { ...CPU_TOL, label: name });
    for (const [wall, budget] of [[groupSlotBytes, slotBudgetBytes], [Infinity, Math.floor(groupSlotBytes / 3)]]) {
      arenaTuning.maxBytes = wall;
      attentionTuning.slotBudgetBytes = budget;
      const at = `a ${wall}-byte wall, a ${budget}-byte slot budget`;
      for (const [engine, tasks] of [[one, undefined], [two, undefined], [one, 3], [two, 2], [two, 5]] as const) {
        forceTaskCount(tasks);
        const g = await engine.attentionBackward(args);
        assert.is(lastCallParts.count, 1, `one call at ${at}`);
        for (const name of ['dq', 'dk', 'dv'] as const) {
          assertSameBits(g[name].data, whole[name].data, `${name} at ${at}, ${engine === one ? 1 : 2} thread(s), ${tasks ?? 'default'} tasks`);
        }
      }
      forceTaskCount(undefined);
    }
    // a single query head is the smallest chunk: below its slots, the wall's RangeError
    attentionTuning.slotBudgetBytes = slotBudgetBytes;
    arenaTuning.maxBytes = Math.max(...Array.from({ length: H }, (_, h) => headSlotBytes(h)));
    try {
      await one.attentionBackward(args);
      assert.unreachable("a wall below one query head's slots refuses the backward");
    } catch (e) {
      isWallError(e);
    }
  } finally {
    attentionTuning.slotBudgetBytes = slotBudgetBytes;
    arenaTuning.maxBytes = Infinity;
    forceTaskCount(undefined);
  }
});

function isWallError(e: unknown): void {
  assert.instance(e, RangeError);
  assert.match((e as Error).message, /MiB of Wasm memory, past the .* limit of 32-bit WebAssembly/);
}

t.run();
