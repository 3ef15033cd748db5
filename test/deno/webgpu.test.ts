// The WebGPU backend against the float64 references of test/reference, under Deno's navigator.gpu
// (lavapipe in CI and here). Run:
//   XDG_RUNTIME_DIR=/tmp node_modules/.bin/deno test --unstable-webgpu --unstable-sloppy-imports -A test/deno/
// Skipped, with the reason printed, where no adapter is found.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.js';
import { BufferUsage, foldDispatch } from '../../gpu/program.js';
import { GpuContext } from '../../gpu/context.js';
import { bufferPoolTuning } from '../../gpu/buffer-pool.js';
import { acquireDevice } from '../../gpu/device.js';
import { longestFirst, sanitizeMask, MASKED } from '../../gpu/buffers.js';
import { chooseTile, sharedBytes } from '../../gpu/attention-common.js';
import type { AttentionArgs, BlockSparseTensor, Layout, MatmulArgs, Tensor } from '../../src/types.js';
import {
  assertClose,
  GPU_TOL,
  layoutNonZeros,
  mulberry32,
  randomAttentionArgs,
  randomAttnMask,
  randomKeyPaddingMask,
  randomLayout,
  randomTensor,
  referenceAttention,
  referenceAttentionBackward,
  referenceMatmul,
  referenceSoftmax,
  referenceSoftmaxBackward,
  type RandomAttentionOptions,
  type Rng,
} from '../reference/index.js';
import {
  attentionBackwardProblem,
  attentionProblem,
  matmulProblem,
  softmaxBackwardProblem,
  softmaxProblem,
} from './problems.js';

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

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i])) throw new Error(`${label}: non-finite ${actual[i]} at ${i}`);
  }
  assertClose(actual, expected, { ...GPU_TOL, label });
}

// ---------------------------------------------------------------------------------------------
// Attention forward and backward

interface AttnCase {
  name: string;
  seed: number;
  B: number;
  H: number;
  blk: number;
  R: number;
  D: number;
  opts?: RandomAttentionOptions;
  backward?: boolean;
}

const ATTN_CASES: AttnCase[] = [
  { name: 'block 16, D 16, dense-ish', seed: 1, B: 1, H: 2, blk: 16, R: 4, D: 16, backward: true },
  { name: 'block 32, D 64, causal', seed: 2, B: 2, H: 2, blk: 32, R: 4, D: 64, opts: { causal: true }, backward: true },
  {
    name: 'block 64, D 32, rpe + key padding (mul)',
    seed: 3, B: 2, H: 1, blk: 64, R: 3, D: 32,
    opts: { rpe: true, keyPaddingMaskMode: 'mul' }, backward: true,
  },
  {
    name: 'block 16, D 80, attnMask add with fully masked rows, kpm add with a fully masked batch',
    seed: 4, B: 2, H: 2, blk: 16, R: 3, D: 80,
    opts: { attnMaskMode: 'add', fullyMaskedRows: [0, 17], keyPaddingMaskMode: 'add', fullyMaskedBatches: [1] },
    backward: true,
  },
  {
    name: 'block 32, D 20 (partial head-dim chunk), causal + attnMask mul + scale',
    seed: 5, B: 1, H: 3, blk: 32, R: 3, D: 20,
    opts: { causal: true, attnMaskMode: 'mul', scale: 0.37 }, backward: true,
  },
  {
    name: 'block 16, D 32, empty block rows',
    seed: 6, B: 1, H: 2, blk: 16, R: 6, D: 32,
    opts: { allowEmptyRows: true, density: 0.25 }, backward: true,
  },
  { name: 'block 16, D 18 (padded to vec4), causal + rpe', seed: 7, B: 1, H: 1, blk: 16, R: 3, D: 18, opts: { causal: true, rpe: true }, backward: true },
  { name: 'block 128, D 64 (query tiles, key chunks), causal', seed: 8, B: 1, H: 1, blk: 128, R: 2, D: 64, opts: { causal: true }, backward: true },
  {
    name: 'block 16, causal with missing diagonal blocks (rows that see nothing)',
    seed: 10, B: 1, H: 2, blk: 16, R: 7, D: 16,
    opts: { causal: true, allowEmptyRows: true, density: 0.45 }, backward: true,
  },
  {
    name: 'block 32, D 64, every mask with causal (gather chunks)',
    seed: 12, B: 1, H: 2, blk: 32, R: 5, D: 64,
    opts: { causal: true, rpe: true, keyPaddingMaskMode: 'mul', attnMaskMode: 'add' }, backward: true,
  },
  { name: 'block 64, D 16, all masks, causal', seed: 9, B: 1, H: 2, blk: 64, R: 2, D: 16,
    opts: { causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul' } },
];

function attnArgs(c: AttnCase, rng: Rng): AttentionArgs {
  return randomAttentionArgs(rng, {
    ...c.opts,
    shape: { B: c.B, H: c.H, N: c.blk * c.R, D: c.D, block: c.blk, R: c.R },
  });
}

for (const c of ATTN_CASES) {
  gpuTest(`attention: ${c.name}`, async (b) => {
    const args = attnArgs(c, mulberry32(c.seed));
    const out = await b.attention(attentionProblem(args));
    close(out, referenceAttention(args), 'out');
  });
  if (c.backward) {
    gpuTest(`attentionBackward: ${c.name}`, async (b) => {
      const rng = mulberry32(100 + c.seed);
      const args = attnArgs(c, rng);
      const full = { ...args, dout: randomTensor(args.q.shape, rng) };
      const got = await b.attentionBackward(attentionBackwardProblem(full));
      const want = referenceAttentionBackward(full);
      close(got.dq, want.dq, 'dq');
      close(got.dk, want.dk, 'dk');
      close(got.dv, want.dv, 'dv');
    });
  }
}

gpuTest('attention: a row with every key masked gives zeros, and its gradients are zero', async (b) => {
  const rng = mulberry32(11);
  const args = randomAttentionArgs(rng, {
    shape: { B: 1, H: 1, N: 32, D: 16, block: 16, R: 2 },
    keyPaddingMaskMode: 'mul',
    fullyMaskedBatches: [0],
  });
  const out = await b.attention(attentionProblem(args));
  if (out.some((x) => x !== 0)) throw new Error('fully masked attention is not all zeros');
  const g = await b.attentionBackward(attentionBackwardProblem({ ...args, dout: randomTensor(args.q.shape, rng) }));
  for (const [k, v] of Object.entries(g)) if (v.some((x: number) => x !== 0)) throw new Error(`${k} is not all zeros`);
});

// ---------------------------------------------------------------------------------------------
// Matmul

function sparseTensor(B: number, layout: Layout, rng: Rng): BlockSparseTensor {
  const nnz = layoutNonZeros(layout).length;
  const t = randomTensor([B, nnz, layout.block, layout.block], rng);
  return { layout, data: t.data, shape: [B, nnz, layout.block, layout.block] };
}

function dense(B: number, H: number, rows: number, cols: number, trans: boolean, rng: Rng): Tensor {
  return randomTensor(trans ? [B, H, cols, rows] : [B, H, rows, cols], rng);
}

/** op(A) is M×K, op(B) K×N; blocks sit on whichever side is sparse. */
function matmulArgs(mode: 'sdd' | 'dsd' | 'dds', transA: boolean, transB: boolean, rng: Rng): MatmulArgs {
  const B = 2;
  const H = 2;
  if (mode === 'sdd') {
    const blk = 32;
    const [R, C, K] = [3, 2, 20];
    const layout = randomLayout(H, R, C, 0.6, rng, { block: blk, ensureRowNonEmpty: true });
    return { mode, a: dense(B, H, R * blk, K, transA, rng), b: dense(B, H, K, C * blk, transB, rng), layout, transA, transB };
  }
  if (mode === 'dsd') {
    const blk = 16;
    const [R, C, N] = [3, 5, 18];
    const layout = randomLayout(H, R, C, 0.5, rng, { block: blk });
    const [M, K] = transA ? [C * blk, R * blk] : [R * blk, C * blk];
    void M;
    return { mode, a: sparseTensor(B, layout, rng), b: dense(B, H, K, N, transB, rng), transA, transB };
  }
  const blk = 16;
  const [R, C, M] = [4, 3, 40];
  const layout = randomLayout(H, R, C, 0.5, rng, { block: blk });
  const K = transB ? C * blk : R * blk;
  return { mode, a: dense(B, H, M, K, transA, rng), b: sparseTensor(B, layout, rng), transA, transB };
}

for (const mode of ['sdd', 'dsd', 'dds'] as const) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      gpuTest(`matmul ${mode} transA=${transA} transB=${transB}`, async (b) => {
        const args = matmulArgs(mode, transA, transB, mulberry32(1000 + +transA * 2 + +transB));
        const got = await b.matmul(matmulProblem(args));
        close(got, referenceMatmul(args), mode);
      });
    }
  }
}

gpuTest('matmul: block 64 sdd (vec4 N) and dsd with a wide N', async (b) => {
  const rng = mulberry32(77);
  const layout = randomLayout(1, 2, 2, 0.7, rng, { block: 64, ensureRowNonEmpty: true });
  const sddArgs: MatmulArgs = { mode: 'sdd', a: randomTensor([1, 1, 128, 64], rng), b: randomTensor([1, 1, 128, 64], rng), layout, transB: true };
  close(await b.matmul(matmulProblem(sddArgs)), referenceMatmul(sddArgs), 'sdd');
  const dsdArgs: MatmulArgs = { mode: 'dsd', a: sparseTensor(1, layout, rng), b: randomTensor([1, 1, 128, 100], rng) };
  close(await b.matmul(matmulProblem(dsdArgs)), referenceMatmul(dsdArgs), 'dsd');
});

// ---------------------------------------------------------------------------------------------
// Softmax

interface SoftmaxCase {
  name: string;
  seed: number;
  blk: number;
  R: number;
  causal?: boolean;
  rpe?: boolean;
  kpm?: 'add' | 'mul';
  am?: 'add' | 'mul';
  scale?: number;
  density?: number;
  fullyMaskedRows?: number[];
}

const SOFTMAX_CASES: SoftmaxCase[] = [
  { name: 'plain, scale 0.5', seed: 21, blk: 16, R: 4, scale: 0.5 },
  { name: 'causal + rpe + kpm add + attnMask mul', seed: 22, blk: 32, R: 3, causal: true, rpe: true, kpm: 'add', am: 'mul' },
  { name: 'kpm mul, attnMask add with fully masked rows, empty block rows', seed: 23, blk: 16, R: 5, kpm: 'mul', am: 'add', density: 0.3, fullyMaskedRows: [3, 40] },
  { name: 'block 64 causal', seed: 24, blk: 64, R: 2, causal: true },
];

for (const c of SOFTMAX_CASES) {
  gpuTest(`softmax: ${c.name}`, async (b) => {
    const rng = mulberry32(c.seed);
    const B = 2;
    const H = 2;
    const N = c.blk * c.R;
    const layout = randomLayout(H, c.R, c.R, c.density ?? 0.6, rng, { block: c.blk, ensureDiagonal: !!c.causal && c.density === undefined });
    const args = {
      x: sparseTensor(B, layout, rng),
      scale: c.scale,
      causal: c.causal,
      rpe: c.rpe ? randomTensor([B, H, N, N], rng) : undefined,
      keyPaddingMask: c.kpm ? randomKeyPaddingMask(B, N, rng, { mode: c.kpm }) : undefined,
      keyPaddingMaskMode: c.kpm,
      attnMask: c.am ? randomAttnMask(N, N, rng, { mode: c.am, fullyMaskedRows: c.fullyMaskedRows }) : undefined,
      attnMaskMode: c.am,
    };
    const got = await b.softmax(softmaxProblem(args));
    close(got, referenceSoftmax(args), 'softmax');
  });
}

gpuTest('softmaxBackward: scale and empty rows', async (b) => {
  for (const [seed, blk, scale, density] of [[31, 16, 1, 0.5], [32, 32, 0.25, 0.3]] as const) {
    const rng = mulberry32(seed);
    const layout = randomLayout(2, 4, 4, density, rng, { block: blk });
    const y = sparseTensor(2, layout, rng);
    const dy = sparseTensor(2, layout, rng);
    const args = { y, dy, scale };
    close(await b.softmaxBackward(softmaxBackwardProblem(args)), referenceSoftmaxBackward(args), `softmaxBackward block ${blk}`);
  }
});

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
