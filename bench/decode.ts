// A decode step through the KV cache (issue 15), Phi-3-small-like: Hq 32, Hkv 8, D 128, block 64,
// Phi3SmallSparsityConfig (16 local blocks, vertical stride 8, a different offset per head), causal.
// For each context length: the cache (engine.createKvCache, capacity = the context) takes the
// context once, q (Nq rows, default 1, at the last positions) is uploaded once as a DeviceTensor,
// and the step attention({ q, kv: cache, layout, causal: true, keepOnDevice: true }) is timed.
// CPU: at each thread count, beside onnxruntime-node's SparseAttention and GroupQueryAttention
// (dense causal) given the same past cache (context − Nq tokens, the step's Nq tokens appended in
// place into the buffer they share with present_*), intra_op_num_threads the same; and a plain
// copy's rate on as many threads (Float32Array.prototype.set between two buffers far larger than
// the caches, one slice per worker). WebGPU: the step beside the GPU's copyBufferToBuffer rate.
// Kept bytes: each kv head's distinct kept blocks in the queries' block rows (the union over its
// query heads) counted once, block·D·4 bytes for K and as many for V; kept GB/s = those / step time.
//   node --import tsx bench/decode.ts [--backend cpu|webgpu] [--threads 1,2,16] [--contexts 4096,16384,32768,131072]
//     [--Nq 1] [--rounds 15] [--copy-mib 1024] [--no-ort] [--machine "label"] [--shared] [--out bench/results/decode.json]
//     [--same-heads] (one layout for every head, homoHead: a kv group's query
//     heads then keep the same blocks, which the WebGPU decode kernel packs into one workgroup)
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { parseFlags } from '../cli/flags.js';
import { timeClean } from '../cli/peers/machine.js';
import { ortGqaSession, type OrtGqaOp } from '../cli/peers/ort-gqa.js';
import { mulberry32, uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { textTable } from '../cli/table.js';
import { writeJson } from '../cli/write-json.js';
import { Phi3SmallSparsityConfig, createEngine, type DeviceTensor, type Engine, type Layout } from '../src/index.js';
import { decodeTable, machineInfo, type DecodeRow } from './report/ort-tables.js';

const flags = parseFlags({
  backend: 'string', threads: 'list', contexts: 'list', Nq: 'int', rounds: 'int', 'copy-mib': 'int', 'no-ort': 'bool',
  machine: 'string', shared: 'bool', out: 'string', 'same-heads': 'bool',
});
const sameHeads = flags.bool('same-heads');
const backend = flags.string('backend', 'cpu') as 'cpu' | 'webgpu';
const cores = os.cpus().length;
const threadCounts = backend === 'cpu' ? flags.ints('threads', [...new Set([1, 2, cores])]) : [0];
const contexts = flags.ints('contexts', [4096, 16384, 32768, 131072]);
const Nq = flags.int('Nq', 1);
const rounds = flags.int('rounds', 15);
const copyBytes = flags.int('copy-mib', 1024) * 2 ** 20;
const withOrt = backend === 'cpu' && !flags.bool('no-ort');
const outFile = flags.string('out', `bench/results/decode-${backend}.json`);
const [Hq, Hkv, D, block] = [32, 8, 128, 64];
const group = Hq / Hkv;

/** Bytes of the distinct kept K and V blocks the queries' block rows read, per kv head (its query heads' union). */
function keptBytes(layout: Layout, context: number): { bytes: number; blocks: number } {
  const [Hl, R, C] = layout.shape;
  const [r0, r1] = [Math.floor((context - Nq) / block), Math.floor((context - 1) / block)];
  let blocks = 0;
  for (let g = 0; g < Hkv; g++) {
    const cols = new Set<number>();
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let r = r0; r <= r1; r++) for (let c = 0; c <= r; c++) if (layout.data[((h % Hl) * R + r) * C + c]) cols.add(c);
    }
    blocks += cols.size;
  }
  return { bytes: blocks * block * D * 4 * 2, blocks };
}

/** Rows [from, to) of a [1, Hkv, n, D] tensor as a [1, Hkv, to − from, D] Float32Array. */
function rowsOf(x: Float32Array, n: number, from: number, to: number): Float32Array {
  const out = new Float32Array(Hkv * (to - from) * D);
  for (let g = 0; g < Hkv; g++) out.set(x.subarray((g * n + from) * D, (g * n + to) * D), g * (to - from) * D);
  return out;
}

/** [1, Hkv, n, D] rows [from, to) as ONNX Runtime's [1, to − from, Hkv·D]. */
function bsnhRows(x: Float32Array, n: number, from: number, to: number): Float32Array {
  const out = new Float32Array(Hkv * (to - from) * D);
  for (let s = from; s < to; s++) for (let g = 0; g < Hkv; g++) out.set(x.subarray((g * n + s) * D, (g * n + s + 1) * D), ((s - from) * Hkv + g) * D);
  return out;
}

/**
 * A plain copy's rate on `threads` workers: each copies its slice of one buffer into another with
 * Float32Array.prototype.set, all started together; GB/s of bytes copied (each byte read once and
 * written once), the median of 5 timed rounds of 2 copies.
 */
async function cpuCopyRate(threads: number): Promise<{ gbps: number; bytes: number; threads: number; samplesMs: number[] }> {
  const src = new SharedArrayBuffer(copyBytes), dst = new SharedArrayBuffer(copyBytes);
  new Float32Array(src).fill(1.5);
  const n = copyBytes / 4;
  const code = `const { parentPort, workerData: w } = require('node:worker_threads');
    const s = new Float32Array(w.src, w.from * 4, w.to - w.from), d = new Float32Array(w.dst, w.from * 4, w.to - w.from);
    parentPort.on('message', (k) => { for (let i = 0; i < k; i++) d.set(s); parentPort.postMessage(0); });`;
  const workers = Array.from({ length: threads }, (_, i) => new Worker(code, { eval: true, workerData: { src, dst, from: Math.floor((n * i) / threads), to: Math.floor((n * (i + 1)) / threads) } }));
  const round = (k: number) => Promise.all(workers.map((w) => new Promise((r) => { w.once('message', r); w.postMessage(k); })));
  await round(1);
  const samplesMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await round(2);
    samplesMs.push(performance.now() - t0);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return { gbps: (2 * copyBytes) / median(samplesMs) / 1e6, bytes: copyBytes, threads, samplesMs };
}

/** The GPU's copyBufferToBuffer rate: 16 copies of one buffer into another per submit, timed to onSubmittedWorkDone. */
async function gpuCopyRate(): Promise<{ gbps: number; bytes: number; samplesMs: number[] } | { skipped: string }> {
  try {
    const { acquireDevice } = await import('../gpu/device.js');
    const { device, release } = await acquireDevice({ powerPreference: 'high-performance' });
    const bytes = Math.min(copyBytes, device.limits.maxBufferSize, 2 ** 30);
    const usage = 0x4 | 0x8 | 0x80; // COPY_SRC | COPY_DST | STORAGE
    const [a, b] = [device.createBuffer({ size: bytes, usage }), device.createBuffer({ size: bytes, usage })];
    const copies = 16;
    const once = async () => {
      const e = device.createCommandEncoder();
      for (let i = 0; i < copies; i++) e.copyBufferToBuffer(i % 2 ? b : a, 0, i % 2 ? a : b, 0, bytes);
      device.queue.submit([e.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await once();
    const samplesMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await once();
      samplesMs.push(performance.now() - t0);
    }
    a.destroy();
    b.destroy();
    release();
    return { gbps: (copies * bytes) / median(samplesMs) / 1e6, bytes, samplesMs };
  } catch (e) {
    return { skipped: (e as Error).message.split('\n')[0]! };
  }
}

const rows: DecodeRow[] = [];
const copies: Record<string, unknown>[] = [];
function log(r: DecodeRow): void {
  const who = `${r.impl.padEnd(10)} ${r.backend === 'webgpu' ? 'webgpu' : `${r.threads}t`.padStart(6)} ctx ${String(r.context).padStart(6)}`;
  console.log(r.ok ? `${who}  ${r.ms!.toFixed(3).padStart(9)} ms  kept ${(r.keptBytes / 2 ** 20).toFixed(1)} MiB  ${r.keptGBps!.toFixed(1).padStart(6)} GB/s${r.copyGBps ? ` (copy ${r.copyGBps.toFixed(1)})` : ''}` : `${who}  ${r.note}`);
}

async function ours(engine: Engine, threads: number | null, context: number, layout: Layout, k: Float32Array, v: Float32Array, kept: { bytes: number; blocks: number }, copyGBps?: number): Promise<DecodeRow> {
  const cache = await engine.createKvCache({ batch: 1, kvHeads: Hkv, headDim: D, capacity: context });
  const chunk = 8192;
  for (let at = 0; at < context; at += chunk) {
    const to = Math.min(context, at + chunk);
    await cache.append({ k: { data: rowsOf(k, context, at, to), shape: [1, Hkv, to - at, D] }, v: { data: rowsOf(v, context, at, to), shape: [1, Hkv, to - at, D] } });
  }
  const q = await engine.upload({ data: uniformFloats(Hq * Nq * D, 15), shape: [1, Hq, Nq, D] });
  const kernel: number[] = [];
  const step = async () => {
    const out = (await engine.attention({ q, kv: cache, layout, causal: true, keepOnDevice: true })) as DeviceTensor;
    out.destroy();
    const ms = engine.lastTimings?.kernelMs;
    if (ms !== undefined) kernel.push(ms);
  };
  const t = await timeClean(step, { warmup: 2, reps: rounds });
  kernel.splice(0, 2);
  q.destroy();
  cache.destroy();
  // the GPU's own clock where it has one (timestamp queries); the wall clock on the CPU
  const ms = backend === 'webgpu' && kernel.length ? median(kernel) : t.median;
  const row: DecodeRow = {
    impl: 'ours', backend, threads, context, Nq, ok: true, ms, wallMs: t.median, ...(kernel.length ? { kernelMs: median(kernel) } : {}),
    keptBlocks: kept.blocks, keptBytes: kept.bytes, keptGBps: kept.bytes / ms / 1e6, ...(copyGBps ? { copyGBps } : {}),
    samples: t.samples, foreign: t.foreign, enoughClean: t.enoughClean,
  };
  log(row);
  return row;
}

/**
 * WebGPU as a generation loop runs it: an engine with `timings: false` (no timestamp readback; a
 * keepOnDevice call returns once submitted), `steps` calls back to back, then one read of the last
 * output, which waits for them all: the time per step, host costs and dispatch included.
 */
async function pipelined(context: number, layout: Layout, k: Float32Array, v: Float32Array, steps = 50): Promise<number> {
  const engine = await createEngine({ backend: 'webgpu', timings: false });
  try {
    const cache = await engine.createKvCache({ batch: 1, kvHeads: Hkv, headDim: D, capacity: context });
    for (let at = 0; at < context; at += 8192) {
      const to = Math.min(context, at + 8192);
      await cache.append({ k: { data: rowsOf(k, context, at, to), shape: [1, Hkv, to - at, D] }, v: { data: rowsOf(v, context, at, to), shape: [1, Hkv, to - at, D] } });
    }
    const q = await engine.upload({ data: uniformFloats(Hq * Nq * D, 15), shape: [1, Hq, Nq, D] });
    const run = async (n: number) => {
      const outs: DeviceTensor[] = [];
      for (let i = 0; i < n; i++) outs.push((await engine.attention({ q, kv: cache, layout, causal: true, keepOnDevice: true })) as DeviceTensor);
      await outs[outs.length - 1].read();
      for (const o of outs) o.destroy();
    };
    await run(5);
    const t0 = performance.now();
    await run(steps);
    return (performance.now() - t0) / steps;
  } finally {
    await engine.close();
  }
}

async function ort(op: OrtGqaOp, threads: number, context: number, layout: Layout, k: Float32Array, v: Float32Array, kept: { bytes: number }): Promise<DecodeRow> {
  const base = { impl: `ort-${op}`, backend: 'onnxruntime-node' as const, threads, context, Nq, keptBytes: kept.bytes };
  let session: Awaited<ReturnType<typeof ortGqaSession>> | undefined;
  try {
    // the past cache is our K and V buffers ([1, Hkv, context, D] is its BNSH); the step's own tokens are its last Nq rows, written back in place
    session = await ortGqaSession({
      op, Hq, Hkv, D, block, S: Nq, past: context - Nq, layout, threads, pastK: k, pastV: v,
      q: uniformFloats(Nq * Hq * D, 15), k: bsnhRows(k, context, context - Nq, context), v: bsnhRows(v, context, context - Nq, context),
    });
    if (typeof session === 'string') return { ...base, ok: false, note: session };
    const s = session;
    const t = await timeClean(() => s.run(), { warmup: 2, reps: rounds });
    const row: DecodeRow = { ...base, ok: true, ms: t.median, keptGBps: kept.bytes / t.median / 1e6, operator: s.operator, version: s.version, sessionMs: s.sessionMs, samples: t.samples, foreign: t.foreign, enoughClean: t.enoughClean };
    log(row);
    return row;
  } catch (e) {
    const row = { ...base, ok: false, note: `failed: ${(e as Error).message.split('\n')[0]}` };
    log(row);
    return row;
  } finally {
    if (session && typeof session !== 'string') await session.release();
  }
}

/** The result document, rewritten after every measurement so that a run cut short keeps what it measured. */
async function save(complete: boolean) {
  const doc = {
    complete,
    machine: machineInfo(flags.string('machine', os.hostname()), flags.bool('shared')),
    problem: { B: 1, Hq, Hkv, D, block, Nq, causal: true, layout: `Phi3SmallSparsityConfig (numLocalBlocks 16, verticalStride 8, ${sameHeads ? 'one layout for all heads' : 'a different offset per head'})`, cache: 'capacity = context, the context appended once; q a DeviceTensor uploaded once, outputs kept on the backend' },
    timing: backend === 'webgpu'
      ? 'ms: the kernels\' timestamp-query time (median); wallMs: the call end to end'
      : 'median of the samples taken while other processes used < 0.15 cores (cli/peers/machine.ts timeClean), wall clock',
    keptBytes: 'per step: each kv head\'s distinct kept blocks in the queries\' block rows, block·D·4 bytes for K and for V; keptGBps = keptBytes / ms',
    copy: copies,
    results: rows,
  };
  await writeJson(outFile, doc);
  return doc;
}

async function add(row: DecodeRow): Promise<void> {
  rows.push(row);
  await save(false);
}

const copyAt = new Map<number, number>();
if (backend === 'cpu') {
  for (const threads of threadCounts) {
    const c = await cpuCopyRate(threads);
    copies.push({ kind: 'Float32Array.prototype.set, one slice per worker thread', ...c });
    copyAt.set(threads, c.gbps);
    console.log(`copy ${threads}t: ${c.gbps.toFixed(1)} GB/s (bytes copied, ${copyBytes / 2 ** 20} MiB buffers)`);
  }
} else {
  const c = await gpuCopyRate();
  copies.push({ kind: 'copyBufferToBuffer, 16 per submit, wall clock to onSubmittedWorkDone', ...c });
  if ('gbps' in c) console.log(`GPU copy: ${c.gbps.toFixed(0)} GB/s (bytes copied)`);
}

for (const context of contexts) {
  const rng = mulberry32(15 + context);
  const k = uniformFloats(Hkv * context * D, rng), v = uniformFloats(Hkv * context * D, rng);
  const layout = new Phi3SmallSparsityConfig({ numHeads: Hq, block, homoHead: sameHeads }).makeLayout(context);
  const kept = keptBytes(layout, context);
  for (const threads of threadCounts) {
    let engine: Engine | undefined;
    try {
      engine = await createEngine(backend === 'cpu' ? { backend, threads } : { backend });
      const row = await ours(engine, backend === 'cpu' ? threads : null, context, layout, k, v, kept, backend === 'cpu' ? copyAt.get(threads) : (copies[0] as { gbps?: number }).gbps);
      if (backend === 'webgpu') {
        await engine.close();
        engine = undefined;
        row.pipelinedMs = await pipelined(context, layout, k, v);
        console.log(`  pipelined (timings off, 50 steps back to back, then one read): ${row.pipelinedMs.toFixed(3)} ms a step`);
      }
      await add(row);
    } catch (e) {
      const row = { impl: 'ours', backend, threads: backend === 'cpu' ? threads : null, context, Nq, keptBytes: kept.bytes, ok: false, note: `failed: ${(e as Error).message.split('\n')[0]}` };
      log(row);
      await add(row);
    }
    await engine?.close();
    if (withOrt) for (const op of ['sparse', 'gqa'] as const) await add(await ort(op, threads, context, layout, k, v, kept));
  }
}

const doc = await save(true);
console.log(`\n${textTable(decodeTable(doc))}\nwrote ${outFile}`);
