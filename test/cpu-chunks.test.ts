// CPU attention at the memory wall (src/attention-parts.ts): under a lowered wall (arenaTuning.maxBytes) a
// call that does not fit runs in parts, halves of its batch rows, then of its heads, and gives the
// same bits as one call; a call whose single head does not fit rejects with the wall's RangeError
// and leaves the engine usable. Both builds, one thread and a pool.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import { arenaTuning } from '../src/cpu/arena.js';
import { lastCallParts } from '../src/attention-parts.js';
import type { Tensor } from '../src/types.js';
import { mulberry32, randomAttentionArgs, randomTensor } from './reference/index.js';

const t = suite('attention in parts at the memory wall');
const engines: Engine[] = [];
t.after(async () => {
  arenaTuning.maxBytes = Infinity;
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
const sameBits = (a: Float32Array, b: Float32Array, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  const [x, y] = [bits(a), bits(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) assert.unreachable(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
};

const rng = mulberry32(2026);
const args = randomAttentionArgs(rng, {
  shape: { B: 3, H: 4, N: 128, D: 32, block: 32, R: 4 },
  causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul',
});
const dout: Tensor = randomTensor((args.q as Tensor).shape, rng);

for (const [simd, threads] of [['simd', 1], ['relaxed', 2]] as const) {
  t(`${simd}, ${threads} thread(s): parts give one call's bits, down to a single head; below that the wall's RangeError`, async () => {
    const engine = await createEngine({ backend: 'cpu', threads, simd } as Parameters<typeof createEngine>[0]);
    engines.push(engine);
    arenaTuning.maxBytes = Infinity;
    const whole = await engine.attention(args);
    const grads = await engine.attentionBackward({ ...args, dout });
    assert.is(lastCallParts.count, 1);
    const seen = new Set<number>();
    let refused = false;
    // walls from 32 MiB down, halving: each call either matches the whole call bit for bit or is refused
    for (let wall = 32 * 2 ** 20; wall >= 2 ** 16 && !refused; wall /= 2) {
      arenaTuning.maxBytes = wall;
      try {
        const out = await engine.attention(args);
        const forwardParts = lastCallParts.count;
        const g = await engine.attentionBackward({ ...args, dout });
        seen.add(forwardParts).add(lastCallParts.count);
        sameBits(out.data, whole.data, `out at a ${wall}-byte wall`);
        sameBits(g.dq.data, grads.dq.data, `dq at a ${wall}-byte wall`);
        sameBits(g.dk.data, grads.dk.data, `dk at a ${wall}-byte wall`);
        sameBits(g.dv.data, grads.dv.data, `dv at a ${wall}-byte wall`);
      } catch (e) {
        assert.instance(e, RangeError);
        assert.match((e as Error).message, /MiB of Wasm memory, past the .* limit of 32-bit WebAssembly/);
        refused = true;
      }
    }
    assert.ok(refused, 'the smallest wall refuses the call');
    assert.ok([...seen].some((n) => n > 1 && n < 12), `some wall made parts of batch rows (parts seen: ${[...seen]})`);
    assert.ok(seen.has(12), `some wall split down to single heads (parts seen: ${[...seen]})`);
    // usable again once the wall is back
    arenaTuning.maxBytes = Infinity;
    sameBits((await engine.attention(args)).data, whole.data, 'out after the refusal');
    assert.is(lastCallParts.count, 1);
  });
}

t.run();
