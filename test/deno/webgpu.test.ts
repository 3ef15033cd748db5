// The WebGPU backend's own behaviour under Deno's navigator.gpu (lavapipe in CI and here): folded
// dispatches, empty layouts, info and timings, adapter errors, the recorder and the buffer pool. Run:
//   XDG_RUNTIME_DIR=/tmp node_modules/.bin/deno test --unstable-webgpu --unstable-sloppy-imports -A test/deno/
// Skipped, with the reason printed, where no adapter is found.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.js';
import { BufferUsage, foldDispatch } from '../../gpu/program.js';
import { GpuContext } from '../../gpu/context.js';
import { bufferPoolTuning } from '../../gpu/buffer-pool.js';
import { acquireDevice } from '../../gpu/device.js';
import { sanitizeMask, MASKED } from '../../gpu/buffers.js';
import { longestFirst } from '../../src/layouts/compile.js';
import { chooseTile, sharedBytes } from '../../gpu/attention-common.js';
import { blockEdge, walkKT } from '../../gpu/matmul-common.js';
import type { Layout, MatmulArgs } from '../../src/types.js';
import { mulberry32, randomLayout, randomTensor } from '../reference/index.js';
import { attentionBackwardProblem, attentionProblem, matmulProblem, softmaxProblem } from './problems.js';

let backend: WebGPUBackend | null = null;
let skipReason = '';
try {
  backend = await createWebGPUBackend();
} catch (e) {
  skipReason = (e as Error).message;
  console.warn(`webgpu tests skipped: ${skipReason}`);
}
const ignore = backend === null;
const opts = { sanitizeOps: false, sanitizeResources: false };

function gpuTest(name: string, fn: (b: WebGPUBackend) => Promise<void>): void {
  Deno.test({ name, ignore, ...opts, fn: () => fn(backend!) });
}

// Every op's cases against float64 are in the op suite (test/deno/ops.test.ts, test/ops/cases.ts);
// here: what only the WebGPU backend has (folded dispatches, empty layouts, plumbing).

gpuTest('softmax: more than 65,535 rows folds the dispatch into y', async (b) => {
  // A diagonal layout of 4097 blocks of 16: 65,552 token rows, one workgroup each.
  const R = 4097;
  const blk = 16;
  const data = new Uint8Array(R * R);
  for (let r = 0; r < R; r++) data[r * R + r] = 1;
  const layout: Layout = { block: blk, shape: [1, R, R], data };
  const x = randomTensor([1, R, blk, blk], mulberry32(41));
  const got = await b.softmax(softmaxProblem({ x: { layout, data: x.data, shape: [1, R, blk, blk] } }));
  let worst = 0;
  for (let row = 0; row < R * blk; row++) {
    const o = row * blk;
    let m = -Infinity;
    for (let j = 0; j < blk; j++) m = Math.max(m, x.data[o + j]);
    let s = 0;
    for (let j = 0; j < blk; j++) s += Math.exp(x.data[o + j] - m);
    for (let j = 0; j < blk; j++) worst = Math.max(worst, Math.abs(got[o + j] - Math.exp(x.data[o + j] - m) / s));
  }
  if (!(worst < 1e-6)) throw new Error(`folded softmax off by ${worst}`);
});

gpuTest('an empty layout (no kept block) gives zeros everywhere, and empty block-sparse results', async (b) => {
  const rng = mulberry32(51);
  const layout: Layout = { block: 16, shape: [2, 3, 3], data: new Uint8Array(18) };
  const q = randomTensor([1, 2, 48, 16], rng);
  const args = { q, k: randomTensor([1, 2, 48, 16], rng), v: randomTensor([1, 2, 48, 16], rng), layout };
  const out = await b.attention(attentionProblem(args));
  if (out.length !== q.data.length || out.some((x) => x !== 0)) throw new Error('attention over an empty layout is not zeros');
  const g = await b.attentionBackward(attentionBackwardProblem({ ...args, dout: randomTensor(q.shape, rng) }));
  if ([g.dq, g.dk, g.dv].some((x) => x.some((y) => y !== 0))) throw new Error('gradients over an empty layout are not zeros');
  const sddArgs: MatmulArgs = { mode: 'sdd', a: q, b: randomTensor([1, 2, 16, 48], rng), layout };
  if ((await b.matmul(matmulProblem(sddArgs))).length !== 0) throw new Error('sdd over an empty layout is not empty');
  const x = { layout, data: new Float32Array(0), shape: [1, 0, 16, 16] as [number, number, number, number] };
  if ((await b.softmax(softmaxProblem({ x }))).length !== 0) throw new Error('softmax over an empty layout is not empty');
  const dsdArgs: MatmulArgs = { mode: 'dsd', a: x, b: randomTensor([1, 2, 48, 8], rng) };
  const c = await b.matmul(matmulProblem(dsdArgs));
  if (c.length !== 2 * 48 * 8 || c.some((y) => y !== 0)) throw new Error('dsd over an empty layout is not zeros');
});

gpuTest('matmul: a block that is not a multiple of 4 rejects with a RangeError naming layout.block; the next op works', async (b) => {
  const rng = mulberry32(52);
  const layout: Layout = { block: 6, shape: [1, 2, 2], data: Uint8Array.from([1, 0, 1, 1]) };
  const sddArgs: MatmulArgs = { mode: 'sdd', a: randomTensor([1, 1, 12, 5], rng), b: randomTensor([1, 1, 5, 12], rng), layout };
  const msg = await expectReject(b.matmul(matmulProblem(sddArgs)), /layout\.block \(6\) must be a multiple of 4/);
  if (!msg.startsWith('blocksparse: ')) throw new Error(`no prefix: ${msg}`);
  const ok = { ...sddArgs, layout: { ...layout, block: 8 }, a: randomTensor([1, 1, 16, 5], rng), b: randomTensor([1, 1, 5, 16], rng) };
  if ((await b.matmul(matmulProblem(ok))).length !== 3 * 64) throw new Error('block 8 after the rejection');
});

// ---------------------------------------------------------------------------------------------
// Backend plumbing

gpuTest('info names the adapter, features and limits', async (b) => {
  const i = b.info;
  if (b.name !== 'webgpu') throw new Error(`name ${b.name}`);
  if (typeof i.description !== 'string' || !Array.isArray(i.features) || typeof i.subgroups !== 'boolean' || typeof i.timestampQuery !== 'boolean') {
    throw new Error(`info incomplete: ${JSON.stringify(i)}`);
  }
  if (!(i.limits.maxComputeWorkgroupStorageSize >= 16384)) throw new Error('limits missing');
  if (i.timestampQuery) {
    const t = b.lastTimings;
    if (!t || !t.kernels.length || !t.kernels.every((k) => typeof k.kernel === 'string' && k.key && k.ms >= 0)) {
      throw new Error(`lastTimings malformed: ${JSON.stringify(t)}`);
    }
  }
});

gpuTest('lastTimings: an upload after an op reports none', async (b) => {
  const rng = mulberry32(11);
  const layout = randomLayout(2, 3, 3, 0.7, rng);
  const q = randomTensor([1, 2, 48, 16], rng);
  await b.matmul(matmulProblem({ mode: 'sdd', a: q, b: randomTensor([1, 2, 16, 48], rng), layout }));
  if (b.info.timestampQuery && !b.lastTimings) throw new Error('a timed op left no timings');
  const r = await b.upload(q.data, 16);
  if (b.lastTimings !== null) throw new Error(`an upload reports an earlier op's timings: ${JSON.stringify(b.lastTimings)}`);
  r.destroy();
});

Deno.test('foldDispatch keeps each dimension within the limit', () => {
  for (const [total, max] of [[1, 65535], [65535, 65535], [65536, 65535], [1e7, 65535], [40, 7], [49, 7]]) {
    const [x, y] = foldDispatch(total, max);
    if (x > max || y > max || x * y < total || x * (y - 1) >= total) throw new Error(`fold(${total}, ${max}) = ${x}, ${y}`);
  }
  let threw = false;
  try {
    foldDispatch(50, 7);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  if (!threw) throw new Error('50 workgroups on a 7 × 7 grid should throw a RangeError');
});

Deno.test('sanitizeMask clamps −∞ to the finite sentinel without copying clean masks', () => {
  const clean = new Float32Array([0, -1, 2]);
  if (sanitizeMask(clean) !== clean) throw new Error('copied a clean mask');
  const dirty = new Float32Array([0, -Infinity, -1e38]);
  const s = sanitizeMask(dirty);
  if (s === dirty || s[1] !== Math.fround(MASKED) || s[2] !== Math.fround(MASKED) || dirty[1] !== -Infinity) throw new Error('bad sanitize');
});

Deno.test('longestFirst orders rows by descending length, ties in index order', () => {
  const got = [...longestFirst(Int32Array.from([2, 5, 2, 0, 5]))];
  if (got.join() !== '1,4,0,2,3') throw new Error(`longestFirst gave ${got}`);
});

Deno.test('tiles fit the workgroup memory they are given', () => {
  for (const kernel of ['forward', 'dq', 'dkdv'] as const) {
    for (const blk of [16, 32, 64, 128]) {
      for (const d4 of [4, 5, 16, 32, 64]) {
        for (const shared of [16384, 32768, 49152]) {
          const t = chooseTile(kernel, blk, d4, shared, 256, false);
          if (blk % t.BR !== 0 || t.BR !== t.TY * t.RM || t.BC !== t.TX * t.RN) throw new Error(`bad tile ${JSON.stringify(t)}`);
          if (t.BC > blk ? t.BC % blk !== 0 : blk % t.BC !== 0) throw new Error(`chunk ${t.BC} does not tile block ${blk}`);
          if (sharedBytes(kernel, t, d4, false) > shared) throw new Error(`tile over ${shared} bytes: ${JSON.stringify(t)}`);
        }
      }
    }
  }
});

Deno.test('matmul tile edges and K slices divide the block (a tile or slice across two blocks reads the next one)', () => {
  for (let blk = 4; blk <= 256; blk += 4) {
    const edge = blockEdge(blk);
    const kt = walkKT(blk);
    if (blk % edge !== 0 || edge % 4 !== 0 || edge > 64) throw new Error(`block ${blk}: tile edge ${edge}`);
    if (blk % kt !== 0 || kt > 16) throw new Error(`block ${blk}: K slice ${kt}`);
  }
  if (blockEdge(96) !== 48 || walkKT(24) !== 12 || walkKT(40) !== 10 || blockEdge(128) !== 64 || walkKT(64) !== 16) throw new Error('not the largest divisor');
  for (const blk of [1, 2, 3, 6, 10]) {
    let threw: unknown = null;
    try {
      blockEdge(blk);
    } catch (e) {
      threw = e;
    }
    if (!(threw instanceof RangeError) || !/layout\.block \(\d+\)/.test(threw.message)) throw new Error(`block ${blk}: ${threw}`);
  }
});

async function withPatchedGpu<T>(patch: Partial<GPU>, f: () => Promise<T>): Promise<T> {
  const gpu = navigator.gpu as unknown as Record<string, unknown>;
  const saved = Object.getOwnPropertyDescriptors(patch);
  for (const k of Object.keys(saved)) Object.defineProperty(gpu, k, { value: (patch as Record<string, unknown>)[k], configurable: true, writable: true });
  try {
    return await f();
  } finally {
    for (const k of Object.keys(saved)) delete gpu[k];
  }
}

async function expectReject(p: Promise<unknown>, pattern: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    if (!(e instanceof Error) || !pattern.test(msg)) throw new Error(`wrong rejection: ${msg}`);
    return msg;
  }
  throw new Error('did not reject');
}

Deno.test({
  name: 'no adapter: createWebGPUBackend rejects with an Error naming webgpu',
  ignore: typeof navigator.gpu === 'undefined',
  ...opts,
  fn: async () => {
    await withPatchedGpu({ requestAdapter: () => Promise.resolve(null) }, () =>
      expectReject(createWebGPUBackend(), /backend 'webgpu': no adapter was found: requestAdapter\(\) returned null/),
    );
    await withPatchedGpu({ requestAdapter: () => new Promise<GPUAdapter | null>(() => {}) }, () =>
      expectReject(createWebGPUBackend({ timeoutMs: 50 }), /webgpu.*did not answer/),
    );
    await withPatchedGpu({ requestAdapter: () => Promise.reject(new Error('boom')) }, () =>
      expectReject(createWebGPUBackend(), /no adapter was found: requestAdapter\(\) failed \(boom\)/),
    );
  },
});

Deno.test({
  name: 'no navigator.gpu: rejects saying so',
  ...opts,
  fn: async () => {
    const desc = Object.getOwnPropertyDescriptor(navigator, 'gpu');
    Object.defineProperty(navigator, 'gpu', { value: undefined, configurable: true });
    try {
      await expectReject(createWebGPUBackend(), /backend 'webgpu': no adapter was found: navigator.gpu is missing/);
    } finally {
      if (desc) Object.defineProperty(navigator, 'gpu', desc);
      else delete (navigator as unknown as Record<string, unknown>).gpu;
    }
  },
});

gpuTest('close releases the device; later calls reject', async () => {
  const b = await createWebGPUBackend();
  await b.close();
  await expectReject(b.softmaxBackward({ B: 1, H: 1, N: 16, y: new Float32Array(256), dy: new Float32Array(256), layout: undefined as never, scale: 1 }), /closed/);
});

/** A test on a GpuContext of its own (a second device), released after. */
function contextTest(name: string, fn: (ctx: GpuContext, device: GPUDevice) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    ...opts,
    fn: async () => {
      const { device, limits, release } = await acquireDevice();
      try {
        await fn(new GpuContext(device, limits, false, 0), device);
      } finally {
        release();
      }
    },
  });
}

contextTest('Recorder: a validation error rejects the op with the device\'s message; the next op on the device works', async (ctx, device) => {
  const noCopySrc = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE });
  const src = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC, mappedAtCreation: true });
  new Float32Array(src.getMappedRange()).set([1, 2, 3, 4]);
  src.unmap();
  const dst = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
  const bad = ctx.recorder('bad copy');
  bad.copy(noCopySrc, 0, dst, 0, 16);
  await expectReject(bad.run([{ buffer: dst, bytes: 16 }]), /webgpu: bad copy failed: /);
  const good = ctx.recorder('good copy');
  good.copy(src, 0, dst, 0, 16);
  const [out] = await good.run([{ buffer: dst, bytes: 16 }]);
  if (Array.from(new Float32Array(out)).join() !== '1,2,3,4') throw new Error(`good copy read ${Array.from(new Float32Array(out))}`);
  for (const b of [noCopySrc, src, dst]) b.destroy();
});

contextTest('Recorder, timings off: an op with nothing to read returns once submitted; the next op throws what its scopes reported, once', async (ctx, device) => {
  const quiet = new GpuContext(device, ctx.limits, false, 0, false);
  const noCopySrc = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE });
  const src = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC, mappedAtCreation: true });
  new Float32Array(src.getMappedRange()).set([1, 2, 3, 4]);
  src.unmap();
  const dst = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
  const copy = (name: string, from: GPUBuffer, reads: boolean) => {
    const r = quiet.recorder(name);
    r.copy(from, 0, dst, 0, 16);
    return r.run(reads ? [{ buffer: dst, bytes: 16 }] : []);
  };
  const read = async () => Array.from(new Float32Array((await copy('read', src, true))[0]!)).join();
  // the bad op returns; once its scopes have answered, the next op throws its failure, once
  for (const nextReads of [false, true]) {
    const got = await copy('bad copy', noCopySrc, false);
    if (got.length !== 0) throw new Error('an op with nothing to read gave results');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expectReject(nextReads ? read() : copy('next', src, false), /webgpu: bad copy failed: /);
    if ((await read()) !== '1,2,3,4') throw new Error('the op after the failure did not work');
  }
  // straight after it, an op that reads waits for the scopes before its own: the failure comes by then at the latest
  await copy('bad copy', noCopySrc, false);
  let thrown = false;
  await copy('next', src, false).catch((e: Error) => {
    if (!/webgpu: bad copy failed: /.test(e.message)) throw e;
    thrown = true;
  });
  if (!thrown) await expectReject(read(), /webgpu: bad copy failed: /);
  if ((await read()) !== '1,2,3,4') throw new Error('the op after the failure did not work');
  for (const b of [noCopySrc, src, dst]) b.destroy();
});

contextTest('BufferPool: a given-up output is taken again by size and cleared first; a destroyed DeviceTensor joins it; the cap holds', async (ctx, device) => {
  const cap = bufferPoolTuning.maxBytes;
  try {
    const sevens = new Float32Array(16).fill(7);
    const first = ctx.recorder('first');
    const a = first.output('a', 64);
    device.queue.writeBuffer(a, 0, sevens); // queued before the op's commands
    const [got1] = await first.run([{ buffer: a, bytes: 64 }]);
    if (new Float32Array(got1).some((x) => x !== 7)) throw new Error('a fresh output is not cleared over data written before the op');
    if (ctx.bufferPool.bytes !== 64) throw new Error(`the pool holds ${ctx.bufferPool.bytes} bytes after the op, expected 64`);
    const second = ctx.recorder('second');
    const b = second.output('b', 64);
    if (b !== a) throw new Error('the pool did not hand back the buffer of that size');
    device.queue.writeBuffer(b, 0, sevens);
    const [got2] = await second.run([{ buffer: b, bytes: 64 }]);
    if (new Float32Array(got2).some((x) => x !== 0)) throw new Error(`a reused output was not cleared: ${Array.from(new Float32Array(got2))}`);
    // a kept output goes back to the pool when its DeviceTensor is destroyed
    const third = ctx.recorder('third');
    const c = third.output('c', 256);
    third.disown(c);
    await third.run([]);
    const before = ctx.bufferPool.bytes;
    ctx.persist(c, 64, 4).destroy();
    if (ctx.bufferPool.bytes !== before + 256) throw new Error(`destroying the resident left the pool at ${ctx.bufferPool.bytes} bytes`);
    // beyond the cap, a given buffer is destroyed, not kept
    bufferPoolTuning.maxBytes = ctx.bufferPool.bytes;
    const fourth = ctx.recorder('fourth');
    fourth.output('d', 1024);
    await fourth.run([]);
    if (ctx.bufferPool.bytes !== bufferPoolTuning.maxBytes) throw new Error(`the pool grew past its cap to ${ctx.bufferPool.bytes} bytes`);
    ctx.bufferPool.clear();
    if (ctx.bufferPool.bytes !== 0) throw new Error('clear() left bytes in the pool');
  } finally {
    bufferPoolTuning.maxBytes = cap;
  }
});

Deno.test({ name: 'teardown', ignore, ...opts, fn: async () => await backend!.close() });
