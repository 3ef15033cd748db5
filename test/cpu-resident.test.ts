// DeviceTensors on the CPU live in the kernels' Wasm memory (src/cpu/resident.ts): the arena's
// persistent blocks, their reuse and release, and residents surviving table-cache eviction and
// memory growth. The API-level cases are in device-tensor.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Arena } from '../src/cpu/arena.js';
import { cpuBackendTuning } from '../src/cpu/backend.js';
import { createMemory } from '../src/cpu/wasm.js';
import { createEngine } from '../src/engine.js';
import type { Tensor } from '../src/types.js';
import { referenceAttention } from './reference/attention.js';
import { assertClose, CPU_TOL } from './helpers/assert-close.js';
import { mulberry32, randomAttentionArgs, randomTensor } from './helpers/random.js';

test('arena: takeU8 copies exactly the bytes asked for, at any alignment and length', () => {
  const memory = createMemory(1);
  const arena = new Arena(memory);
  const bytes = new Uint8Array(memory.buffer, 0, 4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 255;
  for (const ptr of [0, 8, 64, 1, 3, 7, 12]) {
    for (const length of [0, 1, 7, 8, 9, 16, 63, 64, 1000]) {
      const got = arena.takeU8(ptr, length);
      assert.is(got.length, length);
      assert.ok(got.every((x, i) => x === bytes[ptr + i]), `ptr ${ptr} length ${length}`);
      assert.not.ok(got.buffer instanceof SharedArrayBuffer, 'the copy owns its bytes');
    }
  }
});

test('arena: persistent blocks are reused first fit, holes merge, a hole at the end returns to the per-call region', () => {
  const arena = new Arena(createMemory(1));
  const base = arena.alloc(0); // where persistent allocation starts (nothing allocated yet)
  arena.reset();
  const a = arena.allocPersistent(100); // 128 bytes
  const b = arena.allocPersistent(64);
  const c = arena.allocPersistent(200); // 256
  assert.equal([a, b, c], [base, base + 128, base + 192]);
  assert.is(arena.persistentBytes, 128 + 64 + 256);
  arena.freePersistent(b, 64);
  assert.is(arena.persistentBytes, 128 + 256);
  assert.is(arena.allocPersistent(10), b, 'the hole is reused');
  arena.freePersistent(a, 100);
  arena.freePersistent(b, 10); // merges with a's hole: 192 bytes at a
  assert.is(arena.allocPersistent(150), a, 'merged holes hold a larger block');
  arena.freePersistent(a, 150);
  arena.freePersistent(c, 200); // merges a's hole, c and the end: everything returns
  assert.is(arena.persistentBytes, 0);
  assert.is(arena.alloc(8), base, 'per-call allocation starts where persistent blocks were');
  assert.throws(() => arena.allocPersistent(8), /persistent allocation during a call/);
  arena.reset();
});

test('cpu: destroying DeviceTensors gives their memory back; results unchanged when holes are reused', async () => {
  const engine = await createEngine({ backend: 'cpu', threads: 1 });
  try {
    const args = randomAttentionArgs(mulberry32(8), { shape: { B: 1, H: 2, N: 64, D: 16, block: 16, R: 4 }, density: 0.7, causal: true });
    const expected = await engine.attention(args);
    const arena = (engine as unknown as { impl: { arena: Arena } }).impl.arena;
    const baseline = arena.persistentBytes; // the layout's tables
    for (let round = 0; round < 5; round++) {
      const [q, k, v] = await Promise.all([args.q, args.k, args.v].map((t) => engine.upload(t as Tensor)));
      const out = await engine.attention({ ...args, q, k, v, keepOnDevice: true });
      assert.equal(Array.from((await out.read()).data), Array.from(expected.data), `round ${round}`);
      for (const t of [q, k, v, out]) t.destroy();
      await engine.attention(args); // frees are queued behind calls; one call flushes them
      assert.is(arena.persistentBytes, baseline, `round ${round}: no block left behind`);
    }
  } finally {
    await engine.close();
  }
});

test('cpu: a DeviceTensor survives table-cache eviction and memory growth', async () => {
  const engine = await createEngine({ backend: 'cpu', threads: 2 });
  const { tableCacheBytes } = cpuBackendTuning;
  cpuBackendTuning.tableCacheBytes = 1; // every new layout evicts the cache
  try {
    const rng = mulberry32(9);
    const args = randomAttentionArgs(rng, { shape: { B: 2, H: 2, N: 96, D: 20, block: 32, R: 3 }, density: 0.6 });
    const [q, k, v] = await Promise.all([args.q, args.k, args.v].map((t) => engine.upload(t as Tensor)));
    const kept = await engine.attention({ ...args, keepOnDevice: true });
    // other layouts (evicting this one's tables) and a call large enough to grow the memory
    for (let i = 0; i < 3; i++) {
      const other = randomAttentionArgs(rng, { shape: { B: 1, H: 2, N: 64, D: 8, block: 16, R: 4 }, density: 0.5 });
      await engine.attention(other);
    }
    const big = randomTensor([1, 1, 4096, 1024], rng); // 16 MiB each
    await engine.attention({ q: big, k: big, v: big, layout: { block: 64, shape: [1, 64, 64], data: new Uint8Array(64 * 64).fill(1) } });
    const again = await engine.attention({ ...args, q, k, v });
    assertClose(again.data, referenceAttention(args), { ...CPU_TOL, label: 'resident q, k, v after eviction and growth' });
    assertClose((await kept.read()).data, referenceAttention(args), { ...CPU_TOL, label: 'kept output after eviction and growth' });
  } finally {
    cpuBackendTuning.tableCacheBytes = tableCacheBytes;
    await engine.close();
  }
});

test.run();
