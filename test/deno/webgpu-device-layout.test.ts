// engine.selectBlocks with keepOnDevice on WebGPU (lavapipe in CI): the DeviceLayout holds the
// selection in GPU memory and attention reads it there, no host round trip. Checked against the
// float64 reference over the layout read() gives (forward, lse, attentionMass, and the backward,
// which reads the layout back once); calls it cannot serve (other heads, too few block rows, a
// destroyed or closed layout, another engine) reject and leave the engine usable.
// Skipped, with the reason printed, where no adapter is found.
import { createEngine, type Engine } from '../../src/engine.ts';
import type { BatchedLayout, DeviceLayout, Tensor } from '../../src/types.ts';
import {
  GPU_TOL,
  assertClose,
  mulberry32,
  randomTensor,
  referenceAttention,
  referenceAttentionBackward,
  referenceAttentionMass,
  referenceLse,
} from '../reference/index.ts';

let gpu: Engine | null = null;
try {
  gpu = await createEngine({ backend: 'webgpu' });
} catch (e) {
  console.warn(`webgpu device-layout tests skipped: ${(e as Error).message}`);
}
const opts = { ignore: gpu === null, sanitizeOps: false, sanitizeResources: false };

async function rejects(call: () => Promise<unknown>, pattern: RegExp, label: string): Promise<void> {
  let message = '';
  await call().then(() => undefined, (e: Error) => (message = e.message));
  if (!pattern.test(message)) throw new Error(`${label}: expected /${pattern.source}/, got '${message}'`);
}

const noInf = (x: ArrayLike<number>) => Array.from(x, (v) => (v === -Infinity ? -1e9 : v));

Deno.test('webgpu DeviceLayout: attention reads the selection in GPU memory', opts, async () => {
  const e = gpu!;
  const rng = mulberry32(41);
  const cases: { label: string; q: Tensor; k: Tensor; causal: boolean; qOffset?: number[]; keyLengths?: number[]; topK?: number; threshold?: number }[] = [
    { label: 'prefill, GQA, offsets', q: randomTensor([2, 4, 150, 32], rng), k: randomTensor([2, 2, 400, 32], rng), causal: true, qOffset: [250, 100], topK: 3 },
    { label: 'decode step, ragged', q: randomTensor([2, 4, 1, 32], rng), k: randomTensor([2, 1, 700, 32], rng), causal: true, keyLengths: [700, 333], threshold: 0.7 },
    { label: 'self-attention shape', q: randomTensor([1, 2, 256, 16], rng), k: randomTensor([1, 2, 256, 16], rng), causal: false, topK: 2 },
    // rows of 282 blocks: 71 words, two per thread of the table programs' workgroup
    { label: 'decode step, long keys', q: randomTensor([1, 2, 1, 16], rng), k: randomTensor([1, 1, 9000, 16], rng), causal: true, topK: 40 },
    // causal self-attention over a held selection (its diagonal blocks cut)
    { label: 'causal self-attention', q: randomTensor([1, 2, 256, 16], rng), k: randomTensor([1, 2, 256, 16], rng), causal: true, topK: 2 },
  ];
  for (const c of cases) {
    const v = randomTensor(c.k.shape, rng);
    const qOffset = c.qOffset ? Int32Array.from(c.qOffset) : undefined;
    const keyLengths = c.keyLengths ? Int32Array.from(c.keyLengths) : undefined;
    const common = { q: c.q, k: c.k, causal: c.causal, qOffset, keyLengths };
    const held: DeviceLayout = await e.selectBlocks({ ...common, block: 32, topK: c.topK, threshold: c.threshold, keep: { diagonal: true }, keepOnDevice: true });
    // every kernel is timed: one submission under topK (tables sized by its bound), two under a threshold (selection, then the tables its counts size)
    const kernels = e.lastTimings?.kernels?.map((k) => k.kernel)
    if (kernels && !['SelectRowsProgram', 'LayoutScanProgram', 'LayoutFillProgram'].every((k) => kernels.includes(k))) throw new Error(`${c.label}: lastTimings names ${kernels}`);
    const host: BatchedLayout = await e.selectBlocks({ ...common, block: 32, topK: c.topK, threshold: c.threshold, keep: { diagonal: true } });
    const read = await held.read();
    if (read.data.length !== host.data.length || read.data.some((x, i) => x !== host.data[i])) throw new Error(`${c.label}: read() differs from the host selection`);
    if (held.shape.join() !== host.shape.join() || held.block !== 32 || held.backend !== 'webgpu') throw new Error(`${c.label}: shape ${held.shape}, block ${held.block}`);
    const refArgs = { ...common, v, layout: host };
    const ref = referenceAttention(refArgs);
    const out = await e.attention({ ...common, v, layout: held });
    assertClose(out.data, ref, { ...GPU_TOL, label: `${c.label}: out` });
    const withLse = await e.attention({ ...common, v, layout: held, returnLse: true });
    assertClose(noInf(withLse.lse.data), noInf(referenceLse(refArgs)), { ...GPU_TOL, label: `${c.label}: lse` });
    const mass = await e.attentionMass({ ...common, layout: held });
    assertClose(mass.data, referenceAttentionMass({ ...common, layout: host }), { ...GPU_TOL, label: `${c.label}: mass` });
    const dout = randomTensor(c.q.shape, rng);
    const g = await e.attentionBackward({ ...common, v, dout, layout: held });
    const r = referenceAttentionBackward({ ...refArgs, dout });
    assertClose(g.dq.data, r.dq, { ...GPU_TOL, label: `${c.label}: dq` });
    assertClose(g.dk.data, r.dk, { ...GPU_TOL, label: `${c.label}: dk` });
    assertClose(g.dv.data, r.dv, { ...GPU_TOL, label: `${c.label}: dv` });
    // after the backward's read-back the forward still takes the layout (in place)
    assertClose((await e.attention({ ...common, v, layout: held })).data, ref, { ...GPU_TOL, label: `${c.label}: out after backward` });
    held.destroy();
    if (!held.destroyed) throw new Error('destroy() left the layout');
    await rejects(() => e.attention({ ...common, v, layout: held }), /destroyed DeviceLayout/, `${c.label}: destroyed`);
    await rejects(() => held.read(), /destroyed DeviceLayout/, `${c.label}: read after destroy`);
  }
});

Deno.test('webgpu DeviceLayout: calls it cannot serve reject, the engine stays usable', opts, async () => {
  const e = gpu!;
  const rng = mulberry32(43);
  const q = randomTensor([1, 4, 64, 16], rng);
  const k = randomTensor([1, 2, 256, 16], rng);
  const v = randomTensor(k.shape, rng);
  const held = await e.selectBlocks({ q, k, block: 32, topK: 2, causal: true, keepOnDevice: true });
  // two query heads instead of four: a held layout is not cycled over heads
  await rejects(() => e.attention({ q: randomTensor([1, 2, 64, 16], rng), k, v, layout: held, causal: true }), /layout\.shape\[1\]/, 'other heads');
  // queries reaching past the selection's block rows
  await rejects(() => e.attention({ q, k: randomTensor([1, 2, 512, 16], rng), v: randomTensor([1, 2, 512, 16], rng), layout: held, causal: true }), /layout\.shape\[2\]|layout\.shape\[3\]/, 'too small');
  const cpu = await createEngine({ backend: 'cpu', threads: 1 });
  try {
    await rejects(() => cpu.attention({ q, k, v, layout: held, causal: true }), /another engine/, 'another engine');
  } finally {
    await cpu.close();
  }
  const host = await held.read();
  assertClose((await e.attention({ q, k, v, layout: held, causal: true })).data, referenceAttention({ q, k, v, layout: host, causal: true }), { ...GPU_TOL, label: 'after the rejections' });
  const closing = await createEngine({ backend: 'webgpu' });
  const kept = await closing.selectBlocks({ q, k, block: 32, topK: 2, keepOnDevice: true });
  await closing.close();
  if (!kept.destroyed) throw new Error('close() left the layout');
  held.destroy();
});

Deno.test({ name: 'webgpu DeviceLayout: the engine is closed', ...opts, async fn() { await gpu?.close(); } });
