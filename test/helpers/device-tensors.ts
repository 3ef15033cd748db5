// DeviceTensor cases shared by the Node suite (CPU engine) and the Deno suite (WebGPU engine):
// each takes an engine and a second engine of any backend (for the foreign-handle check).
import type { Engine } from '../../src/engine.js';
import type { AttentionArgs, Tensor } from '../../src/types.js';
import { assertClose, CPU_TOL, GPU_TOL } from './assert-close.js';
import { mulberry32, randomAttentionArgs, randomTensor, type HostAttentionArgs } from './random.js';
import { referenceAttention, referenceAttentionBackward } from '../reference/attention.js';

export interface DeviceTensorCase {
  name: string;
  run(engine: Engine, other: Engine): Promise<void>;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  check(a.length === b.length, `${label}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${label}: differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

async function rejects(p: Promise<unknown>, type: ErrorConstructor, pattern: RegExp, label: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    check(e instanceof type, `${label}: expected a ${type.name}, got ${String(e)}`);
    check(pattern.test((e as Error).message), `${label}: message ${(e as Error).message} does not match ${pattern}`);
    return;
  }
  throw new Error(`${label}: did not reject`);
}

// D = 18 is not a multiple of 4: the GPU pads rows to vec4 and residents must keep that layout
function problem(seed: number, causal = true): HostAttentionArgs {
  const rng = mulberry32(seed);
  return randomAttentionArgs(rng, { shape: { B: 2, H: 2, N: 64, D: 18, block: 16, R: 4 }, density: 0.6, causal, keyPaddingMaskMode: 'add' });
}

const tol = (engine: Engine) => (engine.backend === 'webgpu' ? GPU_TOL : CPU_TOL);

export const deviceTensorCases: DeviceTensorCase[] = [
  {
    name: 'attention on uploaded q, k, v equals attention on the Tensors, bit for bit; keepOnDevice reads back the same',
    async run(engine) {
      const args = problem(1);
      const plain = await engine.attention(args);
      const [q, k, v] = await Promise.all([engine.upload(args.q as Tensor), engine.upload(args.k as Tensor), engine.upload(args.v as Tensor)]);
      check(q.backend === engine.backend && q.shape.join() === (args.q as Tensor).shape.join(), `upload: backend ${q.backend}, shape ${q.shape}`);
      const fromDevice = await engine.attention({ ...args, q, k, v });
      sameBits(fromDevice.data, plain.data, 'resident inputs');
      const kept = await engine.attention({ ...args, q, k, v, keepOnDevice: true });
      check(!kept.destroyed && kept.shape.join() === plain.shape.join(), `keepOnDevice: shape ${kept.shape}`);
      const read = await kept.read();
      sameBits(read.data, plain.data, 'keepOnDevice read');
      check(read.shape.join() === plain.shape.join(), 'read shape');
      assertClose(read.data, referenceAttention(args), { ...tol(engine), label: 'keepOnDevice vs float64' });
    },
  },
  {
    name: 'upload takes a copy: changing the Tensor afterwards changes nothing',
    async run(engine) {
      const args = problem(2, false);
      const q = args.q as Tensor;
      const handle = await engine.upload(q);
      const before = q.data.slice();
      q.data.fill(7);
      sameBits((await handle.read()).data, before, 'upload snapshot');
    },
  },
  {
    name: 'an output kept on the device feeds the next call (out as v), matching float64',
    async run(engine) {
      const args = problem(3);
      const out = await engine.attention({ ...args, keepOnDevice: true });
      const second = await engine.attention({ ...args, v: out });
      const outRef = referenceAttention(args);
      const expected = referenceAttention({ ...args, v: { data: outRef, shape: out.shape as number[] } });
      // two attentions compound the error of the first: twice the single-call tolerance
      const t = tol(engine);
      assertClose(second.data, expected, { atol: 2 * t.atol, rtol: 2 * t.rtol, label: 'chained attention' });
    },
  },
  {
    name: 'attentionBackward on device inputs with keepOnDevice gives the same gradients as on Tensors',
    async run(engine) {
      const args = problem(4);
      const dout = randomTensor((args.q as Tensor).shape, mulberry32(40));
      const plain = await engine.attentionBackward({ ...args, dout });
      const [q, k, v, d] = await Promise.all([args.q, args.k, args.v, dout].map((t) => engine.upload(t as Tensor)));
      const kept = await engine.attentionBackward({ ...args, q, k, v, dout: d, keepOnDevice: true });
      for (const name of ['dq', 'dk', 'dv'] as const) {
        const got = await kept[name].read();
        sameBits(got.data, plain[name].data, `${name} kept on device`);
      }
      const ref = referenceAttentionBackward({ ...args, dout });
      assertClose((await kept.dk.read()).data, ref.dk, { ...tol(engine), label: 'dk vs float64' });
    },
  },
  {
    name: 'a destroyed, foreign or misplaced DeviceTensor is refused by name, and the engine stays usable',
    async run(engine, other) {
      const args = problem(5);
      const k = await engine.upload(args.k as Tensor);
      k.destroy();
      check(k.destroyed, 'destroyed after destroy()');
      k.destroy(); // twice is harmless
      await rejects(engine.attention({ ...args, k }), TypeError, /^k is a destroyed DeviceTensor/, 'destroyed k');
      await rejects(k.read(), TypeError, /destroyed DeviceTensor/, 'read after destroy');
      // destroyed after a call that reads it was made, before that call ran (calls queue)
      const late = await engine.upload(args.k as Tensor);
      const busy = engine.attention(args);
      const queued = engine.attention({ ...args, k: late });
      late.destroy();
      await busy;
      await rejects(queued, TypeError, /^an operand of this call \(a DeviceTensor, DeviceLayout or KvCache\) was destroyed after the call was made, before it ran/, 'destroyed while queued');
      const foreign = await other.upload(args.q as Tensor);
      await rejects(engine.attention({ ...args, q: foreign }), TypeError, /^q is a DeviceTensor of another engine/, 'foreign q');
      const v = await engine.upload(args.v as Tensor);
      await rejects(
        engine.matmul({ mode: 'sdd', a: v as unknown as Tensor, b: args.k as Tensor, layout: args.layout, transB: true }),
        TypeError, /^a is a DeviceTensor, which only attention and attentionBackward take/, 'DeviceTensor to matmul',
      );
      await rejects(engine.upload({ data: [1, 2] as unknown as Float32Array, shape: [2] }), TypeError, /^tensor\.data must be a Float32Array/, 'upload of a plain array');
      await rejects(engine.upload({ data: new Float32Array(3), shape: [2] }), RangeError, /^tensor\.data\.length \(3\)/, 'upload with a wrong length');
      await rejects(
        engine.attention({ ...args, v: await engine.upload({ data: new Float32Array(64 * 18), shape: [1, 1, 64, 18] }) }),
        RangeError, /^v\.shape\[0\] \(B\) must equal k\.shape\[0\] \(2\), got 1/, 'resident v of the wrong shape',
      );
      await rejects(engine.attention({ ...args, keepOnDevice: 'yes' as unknown as boolean }), TypeError, /^keepOnDevice must be a boolean/, 'keepOnDevice not a boolean');
      const again = await engine.attention(args);
      assertClose(again.data, referenceAttention(args), { ...tol(engine), label: 'after the refusals' });
    },
  },
  {
    name: 'GQA with DeviceTensor k, v of the kv shape; returnLse with keepOnDevice gives a DeviceTensor out and a host lse',
    async run(engine) {
      const rng = mulberry32(14);
      const args = randomAttentionArgs(rng, { shape: { B: 2, H: 4, N: 64, D: 18, block: 16, R: 4 }, kvHeads: 2, density: 0.6, causal: true, rpe: true });
      const dout = randomTensor(args.q.shape, rng);
      const host = await engine.attention({ ...args, returnLse: true });
      const [k, v] = await Promise.all([engine.upload(args.k), engine.upload(args.v)]);
      const kept = await engine.attention({ ...args, k, v, returnLse: true, keepOnDevice: true });
      check(kept.out.shape.join() === args.q.shape.join() && kept.lse.shape.join() === args.q.shape.slice(0, 3).join(), `shapes ${kept.out.shape} ${kept.lse.shape}`);
      check(kept.lse.data instanceof Float32Array, 'lse is a host Tensor');
      sameBits((await kept.out.read()).data, host.out.data, 'kept out');
      sameBits(kept.lse.data, host.lse.data, 'lse with keepOnDevice and resident k, v');
      const g = await engine.attentionBackward({ ...args, k, v, dout, keepOnDevice: true });
      check(g.dk.shape.join() === args.k.shape.join() && g.dv.shape.join() === args.k.shape.join(), `dk ${g.dk.shape}, dv ${g.dv.shape}`);
      const ref = referenceAttentionBackward({ ...args, dout });
      for (const name of ['dq', 'dk', 'dv'] as const) assertClose((await g[name].read()).data, ref[name], { ...tol(engine), label: `kept ${name}` });
      for (const t of [k, v, kept.out, g.dq, g.dk, g.dv]) t.destroy();
    },
  },
];

/** After close: every DeviceTensor of the engine reads as destroyed and read() rejects. */
export async function closedEngineCase(engine: Engine): Promise<void> {
  const args = problem(6);
  const q = await engine.upload(args.q as Tensor);
  const out = await engine.attention({ ...args, keepOnDevice: true });
  await engine.close();
  check(q.destroyed && out.destroyed, 'destroyed after close');
  await rejects(out.read(), TypeError, /destroyed DeviceTensor/, 'read after close');
}
