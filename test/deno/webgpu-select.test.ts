// WebGPU block selection (gpu/select-blocks.ts, gpu/select-rows.ts; lavapipe in CI) against the
// float64 reference (test/reference/select-blocks.ts): seeded random calls over both scores, topK and
// threshold, causal, query offsets, key lengths, GQA, partial blocks and keep; exact ties going to
// the lower column; rows of 2000+ columns; operands on the device; and calls split into parts by a
// low buffer wall; the selection kept on the device (its bytes, and the forward reading its tables
// against the forward over the same layout from the host) (over a KV cache: webgpu-kv-summaries.test.ts). A row may
// differ from the reference only where the reference marks it a near tie (f32 against f64 at the cut). Skipped, with the reason printed, where no adapter is found.
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '../../gpu/index.ts';
import type { OperandData } from '../../src/backend.ts';
import type { AttentionArgs, BatchedLayout } from '../../src/types.ts';
import {
  GPU_TOL,
  assertClose,
  mulberry32,
  pick,
  randomInt,
  randomTensor,
  type Rng,
} from '../reference/index.ts';
import { queryBlockRows } from '../../src/layouts/selected-layout.ts';
import { attentionProblem } from './problems.ts';
import { check, selectProblem, type Args } from './selection.ts';

let backend: WebGPUBackend | null = null;
let skipReason = '';
try {
  backend = await createWebGPUBackend();
} catch (e) {
  skipReason = (e as Error).message;
  console.warn(`webgpu select tests skipped: ${skipReason}`);
}
const opts = { ignore: backend === null, sanitizeOps: false, sanitizeResources: false };

/** The selection's dense bytes; its rows must be exactly those holding a query (queryBlockRows). */
async function select(be: WebGPUBackend, a: Args, q?: OperandData, k?: OperandData): Promise<Uint8Array> {
  const p = selectProblem(a, q, k);
  const got = await be.selectBlocks(p);
  const want = queryBlockRows(p).reduce((n, [r0, r1]) => n + p.Hq * Math.max(0, r1 - r0), 0);
  const held = got.runs.reduce((n, [t0, t1]) => n + t1 - t0, 0);
  if (held !== want) throw new Error(`selectBlocks held ${held} rows, expected the ${want} that hold a query`);
  return got.toDense();
}

/** One random call: shapes, offsets, key lengths, a rule and keep blocks. */
function randomArgs(rng: Rng): { args: Args; label: string } {
  const block = pick(rng, [16, 32, 64]);
  const D = pick(rng, [8, 16, 36, 64]);
  const B = randomInt(rng, 1, 2);
  const Hkv = pick(rng, [1, 2]);
  const Hq = Hkv * pick(rng, [1, 2, 4]);
  const Nk = randomInt(rng, 20, 700);
  const Nq = pick(rng, [1, 7, randomInt(rng, 1, Nk), Nk]);
  const causal = rng() < 0.5;
  const args: Args = { q: randomTensor([B, Hq, Nq, D], rng), k: randomTensor([B, Hkv, Nk, D], rng), block, causal };
  const terms = [`B ${B} Hq ${Hq} Hkv ${Hkv} Nq ${Nq} Nk ${Nk} D ${D} block ${block}${causal ? ' causal' : ''}`];
  if (rng() < 0.4) {
    args.keyLengths = Array.from({ length: B }, () => randomInt(rng, 0, Nk)); // 0: a batch row with no keys selects nothing
    terms.push(`keyLengths ${args.keyLengths}`);
  }
  const off = rng();
  if (off < 0.3) args.qOffset = randomInt(rng, 0, Nk);
  else if (off < 0.5) args.qOffset = Array.from({ length: B }, () => randomInt(rng, 0, Nk));
  else if (args.keyLengths && args.keyLengths.some((l) => l < Nq)) args.qOffset = 0; // the default, keyLength − Nq, would be negative
  if (args.qOffset !== undefined) terms.push(`qOffset ${args.qOffset}`);
  const C = Math.ceil(Nk / block);
  if (rng() < 0.5) {
    args.topK = pick(rng, [1, 2, randomInt(rng, 1, C), C + 3]);
    terms.push(`topK ${args.topK}`);
  } else {
    args.threshold = pick(rng, [0.3, 0.5, 0.9, 0.99, 1]);
    terms.push(`threshold ${args.threshold}`);
  }
  if (rng() < 0.4) {
    args.keep = { diagonal: rng() < 0.5, first: pick(rng, [0, 1, 3]), local: pick(rng, [0, 1, 2, 6]) };
    terms.push(`keep ${JSON.stringify(args.keep)}`);
  }
  if (rng() < 0.2) {
    args.scale = pick(rng, [0.5, 4]);
    terms.push(`scale ${args.scale}`);
  }
  if (rng() < 0.3) {
    args.score = 'bound';
    terms.push('score bound');
  }
  return { args, label: terms.join(', ') };
}

Deno.test('webgpu selectBlocks: random calls match the float64 reference', opts, async () => {
  const rng = mulberry32(1701);
  let rows = 0;
  let excused = 0;
  let kept = 0;
  for (let i = 0; i < 60; i++) {
    const { args, label } = randomArgs(rng);
    const r = check(await select(backend!, args), args, `case ${i} (${label})`);
    rows += r.rows;
    excused += r.excused;
    kept += r.kept;
  }
  if (kept === 0) throw new Error('no call kept a block');
  // near ties are rare with these inputs: a run excusing many rows hides a real difference
  if (excused > rows / 100) throw new Error(`${excused} of ${rows} rows differed at a near tie`);
});

Deno.test('webgpu selectBlocks: equal scores go to the lower column (topK and threshold; rows in registers and streamed)', opts, async () => {
  const rng = mulberry32(7);
  const block = 16;
  // 24 key blocks, and 4200 (past STAGED_COLUMNS: the row re-read from the scores each pass)
  for (const [C, D] of [[24, 16], [4200, 4]]) {
    const k = randomTensor([1, 1, C * block, D], rng);
    // key blocks 3, 9 and 17 copy block 5, and 20 copies 11 (and far ones in the long row): equal
    // pooled keys, equal scores in f32 too
    const copies = [[3, 5], [9, 5], [17, 5], [20, 11], ...(C > 24 ? [[2000, 5], [4150, 11], [4199, 5]] : [])];
    for (const [to, from] of copies) k.data.copyWithin(to * block * D, from * block * D, (from + 1) * block * D);
    for (const rule of [{ topK: 1 }, { topK: 2 }, { topK: 5 }, { threshold: 0.2 }, { threshold: 0.6 }] as const) {
      const args: Args = { q: randomTensor([1, 2, 3 * block, D], rng), k, block, qOffset: 21 * block, ...rule };
      check(await select(backend!, args), args, `ties C ${C} ${JSON.stringify(rule)}`, true);
    }
  }
});

Deno.test('webgpu selectBlocks: rows of 2500 and 5000 columns (in registers and streamed), decode-shaped and prefill-shaped', opts, async () => {
  const rng = mulberry32(99);
  const [block, D] = [16, 8];
  for (const Nk of [40000, 80000]) {
    const k = randomTensor([1, 2, Nk, D], rng);
    for (const [Nq, rule] of [[1, { topK: 40 }], [40, { threshold: 0.9 }], [3, { topK: 3000 }], [16, { threshold: 0.5 }]] as const) {
      const args: Args = { q: randomTensor([1, 4, Nq, D], rng), k, block, causal: true, keep: { diagonal: true, first: 1 }, ...rule };
      const r = check(await select(backend!, args), args, `Nk ${Nk}, Nq ${Nq}, ${JSON.stringify(rule)}`);
      if (r.excused > 1) throw new Error(`${r.excused} rows differed at a near tie`);
    }
  }
});

Deno.test('webgpu selectBlocks: one far score puts the rest in one bucket (more keys than a workgroup gathers)', opts, async () => {
  // key block 7 scaled by 1000: its score dwarfs the rest of the row's range, so the other 599
  // scores share one of topK's 256 buckets and the search goes on by key bits within it
  const rng = mulberry32(23);
  const [block, D, C] = [16, 8, 600];
  const k = randomTensor([1, 1, C * block, D], rng);
  for (let i = 7 * block * D; i < 8 * block * D; i++) k.data[i]! *= 1000;
  for (const rule of [{ topK: 1 }, { topK: 2 }, { topK: 5 }, { topK: 40 }, { topK: 599 }, { threshold: 0.5 }] as const) {
    const args: Args = { q: randomTensor([1, 2, 2 * block, D], rng), k, block, ...rule };
    const r = check(await select(backend!, args), args, `outlier ${JSON.stringify(rule)}`);
    if (r.excused > 0) throw new Error(`${r.excused} rows differed at a near tie`);
  }
});

Deno.test('webgpu selectBlocks: a batch row of keyLength 0 selects nothing; keep.local reaches past the keys', opts, async () => {
  const rng = mulberry32(8);
  for (const rule of [{ topK: 2 }, { threshold: 0.5 }]) {
    for (const score of ['mean', 'bound'] as const) {
      const args: Args = {
        q: randomTensor([2, 2, 40, 8], rng), k: randomTensor([2, 1, 50, 8], rng), block: 16, causal: true, qOffset: [0, 70],
        keyLengths: [0, 37], score, ...rule, keep: { diagonal: true, first: 1, local: 6 },
      };
      const got = await select(backend!, args);
      if (got.subarray(0, got.length / 2).some((x) => x !== 0)) throw new Error(`${JSON.stringify(rule)} ${score}: batch row 0 has no keys but kept blocks`);
      check(got, args, `keyLength 0, ${JSON.stringify(rule)}, ${score}`);
    }
  }
});

Deno.test('webgpu selectBlocks: operands already on the device', opts, async () => {
  const rng = mulberry32(5);
  const args: Args = { q: randomTensor([2, 4, 100, 36], rng), k: randomTensor([2, 2, 300, 36], rng), block: 32, causal: true, qOffset: [200, 150], topK: 3 };
  const q = await backend!.upload(args.q.data, 36);
  const k = await backend!.upload(args.k.data, 36);
  try {
    check(await select(backend!, args, q, k), args, 'resident q and k');
    check(await select(backend!, args, args.q.data, k), args, 'host q, resident k');
  } finally {
    q.destroy();
    k.destroy();
  }
});

Deno.test('webgpu selectBlocks: past a low buffer wall, in parts of heads', opts, async () => {
  const walled = await createWebGPUBackend({ bufferLimitBytes: 40_000 } as WebGPUBackendOptions);
  try {
    const rng = mulberry32(11);
    for (const rule of [{ topK: 4 }, { threshold: 0.8 }] as const) {
      // q is 8 heads of 6400 bytes and the scores 16 KiB a head: q in two parts, the rows in four
      const args: Args = { q: randomTensor([2, 4, 100, 16], rng), k: randomTensor([2, 2, 500, 16], rng), block: 16, causal: true, qOffset: [400, 350], ...rule };
      const bytes = await select(walled, args);
      check(bytes, args, `walled ${JSON.stringify(rule)}`);
      // kept on the device: the groups of heads write one layout
      const held = await walled.selectBlocksResident(selectProblem(args));
      const read = await held.read();
      held.destroy();
      if (read.some((x, i) => x !== bytes[i])) throw new Error(`walled ${JSON.stringify(rule)}: the layout kept on the device differs`);
    }
    // a head whose scores alone pass the wall is refused, naming the buffer
    const big: Args = { q: randomTensor([1, 1, 2, 4], rng), k: randomTensor([1, 1, 16 * 150, 4], rng), block: 16, qOffset: 16 * 140, topK: 1 };
    let message = '';
    await select(walled, big).catch((e: Error) => (message = e.message));
    if (!/select block scores/.test(message)) throw new Error(`expected a RangeError naming the scores, got '${message}'`);
  } finally {
    await walled.close();
  }
});

Deno.test('webgpu selectBlocksResident: the layout kept on the device, read by the forward', opts, async () => {
  const rng = mulberry32(23);
  const cases: { args: Args; Nq: number; label: string }[] = [];
  for (let i = 0; i < 10; i++) {
    const { args, label } = randomArgs(rng);
    cases.push({ args, Nq: args.q.shape[2], label });
  }
  // self-attention shaped (the host layout takes the fast path) and decode-shaped (the split path)
  const self: Args = { q: randomTensor([1, 2, 256, 16], rng), k: randomTensor([1, 2, 256, 16], rng), block: 64, causal: true, qOffset: 0, topK: 2, keep: { diagonal: true } };
  const prefill: Args = { q: randomTensor([2, 2, 200, 16], rng), k: randomTensor([2, 1, 300, 16], rng), block: 64, causal: true, qOffset: [100, 40], threshold: 0.8 };
  const step: Args = { q: randomTensor([2, 4, 1, 32], rng), k: randomTensor([2, 2, 900, 32], rng), block: 32, causal: true, keyLengths: [900, 611], topK: 5, keep: { first: 1, diagonal: true } };
  // 2800 rows: kvPtr summed over more than one of LayoutScanProgram's tiles
  const many: Args = { q: randomTensor([1, 4, 16 * 700, 8], rng), k: randomTensor([1, 4, 16 * 700, 8], rng), block: 16, causal: true, qOffset: 0, topK: 3, keep: { diagonal: true } };
  cases.push({ args: self, Nq: 256, label: 'self-attention' }, { args: prefill, Nq: 200, label: 'prefill at offsets' }, { args: step, Nq: 1, label: 'decode step' }, { args: many, Nq: 16 * 700, label: '2800 rows' });
  for (const { args, label } of cases) {
    const held = await backend!.selectBlocksResident(selectProblem(args));
    const bytes = await select(backend!, args);
    const read = await held.read();
    if (read.length !== bytes.length || read.some((x, i) => x !== bytes[i])) throw new Error(`${label}: read() differs from selectBlocks`);
    const [B, H, R, C] = held.shape;
    let most = 0;
    for (let row = 0; row < B * H * R; row++) most = Math.max(most, bytes.subarray(row * C, row * C + C).reduce((a, x) => a + x, 0));
    // a threshold's counts are read back: the longest row itself; under topK, its bound (nothing read back)
    const exact = args.topK === undefined;
    if (held.maxRowBlocks < most || held.maxRowBlocks > C || (exact && held.maxRowBlocks !== most)) {
      throw new Error(`${label}: longest row ${held.maxRowBlocks}; the bytes' longest holds ${most}${exact ? '' : ' (topK: a bound at least that, at most C)'}`);
    }
    // the same forward over that layout, from the host and from the device
    const problem = selectProblem(args);
    const layout: BatchedLayout = { block: args.block, shape: [B, H, R, C], data: bytes };
    const attn: AttentionArgs = {
      q: args.q, k: args.k, v: randomTensor(args.k.shape, rng), layout, causal: args.causal, qOffset: problem.qOffset,
    };
    // key lengths only where the call has them: they add a key mask, under which every block is masked anyway
    if (args.keyLengths) attn.keyLengths = problem.keyLengths;
    const p = attentionProblem(attn);
    const host = await backend!.attentionWithLse(p);
    const device = await backend!.attentionWithLse({ ...p, residentLayout: held });
    assertClose(device.out as Float32Array, host.out as Float32Array, { ...GPU_TOL, label: `${label}: out` });
    assertClose(device.lse.map((x) => (x === -Infinity ? -1e9 : x)), host.lse.map((x) => (x === -Infinity ? -1e9 : x)), { ...GPU_TOL, label: `${label}: lse` });
    const plain = await backend!.attention({ ...p, residentLayout: held });
    assertClose(plain as Float32Array, host.out as Float32Array, { ...GPU_TOL, label: `${label}: attention` });
    let message = '';
    await backend!.attentionBackward({ ...p, dout: args.q.data, residentLayout: held }).catch((e: Error) => (message = e.message));
    if (!/forward only/.test(message)) throw new Error(`${label}: the backward took a layout held on the device ('${message}')`);
    held.destroy();
    if (!held.destroyed) throw new Error('destroy() left the layout');
    message = '';
    await backend!.attention({ ...p, residentLayout: held }).catch((e: Error) => (message = e.message));
    if (!/destroyed/.test(message)) throw new Error(`${label}: a destroyed layout was read ('${message}')`);
  }
});

Deno.test({
  name: 'webgpu selectBlocks: the backend is closed',
  ...opts,
  async fn() {
    await backend?.close();
  },
});
