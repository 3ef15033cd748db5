// What an engine keeps of its KV caches and DeviceLayouts: enough to destroy them on close, not so
// much that a dropped one outlives its last use (a dropped cache's Wasm memory stayed taken until
// close, and a decode loop's dropped selections piled up); and close lets the calls already made
// finish before it destroys them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createEngine, type Engine } from '../src/index.js';
import { WeakHandles } from '../src/weak-handles.js';
import { mulberry32, randomTensor } from './reference/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const collect = async () => {
  for (let i = 0; i < 6; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
};
// the engine's internals this file reads
const internals = (e: Engine) => e as unknown as { caches: WeakHandles<object>; layouts: WeakHandles<object>; impl: { arena: { persistentBytes: number } } };

test('WeakHandles: add, delete, alive; a dropped handle leaves once collected', async () => {
  const set = new WeakHandles<object>();
  const kept = {};
  set.add(kept);
  set.add({});
  const other = {};
  set.add(other);
  set.delete(other);
  set.delete({}); // not in it: nothing
  await collect();
  assert.equal(set.alive(), [kept]);
  assert.is(set.size, 1);
});

test('dropped KV caches and DeviceLayouts are freed when collected; close still destroys the live ones', async () => {
  const engine = await createEngine({ backend: 'cpu', threads: 1 });
  const rng = mulberry32(2);
  const base = internals(engine).impl.arena.persistentBytes;
  // made and dropped in a frame of their own, so that nothing here still points at the last one
  const dropped = async () => {
    for (let i = 0; i < 8; i++) {
      const c = await engine.createKvCache({ batch: 1, kvHeads: 2, headDim: 64, capacity: 4096, summaryBlock: 64 });
      await c.append({ k: randomTensor([1, 2, 512, 64], rng), v: randomTensor([1, 2, 512, 64], rng) });
    }
  };
  await dropped();
  const live = await engine.createKvCache({ batch: 1, kvHeads: 2, headDim: 64, capacity: 4096, summaryBlock: 64 });
  await live.append({ k: randomTensor([1, 2, 512, 64], rng), v: randomTensor([1, 2, 512, 64], rng) });
  const q = randomTensor([1, 4, 1, 64], rng);
  const selections = async () => {
    for (let i = 0; i < 50; i++) await engine.selectBlocks({ q, kv: live, topK: 2, keepOnDevice: true });
  };
  await selections();
  const held = await engine.selectBlocks({ q, kv: live, topK: 2, keepOnDevice: true });
  const taken = internals(engine).impl.arena.persistentBytes - base;
  await collect();
  await engine.attention({ q, kv: live, layout: held }); // a call through the queue: the collected blocks are released on it
  const left = internals(engine).impl.arena.persistentBytes - base;
  assert.is(internals(engine).caches.size, 1, 'the live cache alone');
  assert.is(internals(engine).layouts.size, 1, 'the live selection alone');
  assert.ok(left * 8 < taken, `${(left / 2 ** 20).toFixed(1)} of ${(taken / 2 ** 20).toFixed(1)} MiB still taken`);
  await engine.close();
  assert.ok(live.destroyed && held.destroyed, 'close destroys what is alive');
});

test('close lets the calls made before it finish: a KV cache they read is not destroyed under them', async () => {
  const engine = await createEngine({ backend: 'cpu', threads: 2 });
  const rng = mulberry32(3);
  const q = randomTensor([1, 2, 1024, 64], rng);
  const layout = { block: 32, shape: [2, 32, 32] as [number, number, number], data: new Uint8Array(2 * 32 * 32).fill(1) };
  const cache = await engine.createKvCache({ batch: 1, kvHeads: 2, headDim: 64, capacity: 2048 });
  await cache.append({ k: q, v: q });
  const busy = engine.attention({ q, k: q, v: q, layout });
  const step = randomTensor([1, 2, 1, 64], rng);
  const overCache = engine.attention({ q: step, kv: cache, layout, causal: true });
  const append = cache.append({ k: step, v: step });
  const closing = engine.close();
  await busy;
  assert.equal((await overCache).shape, [1, 2, 1, 64]);
  await append;
  await closing;
  assert.ok(cache.destroyed, 'destroyed once closed');
  try {
    await engine.attention({ q: step, kv: cache, layout });
    assert.unreachable('a call after close');
  } catch (e) {
    assert.match((e as Error).message, /the engine is closed/);
  }
});

test.run();
