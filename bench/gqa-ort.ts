// GQA prefill against ONNX Runtime on the same CPU (issue 14): Hq 32, Hkv 8, D 128, block 64,
// Phi-3-small's pattern, causal, B 1. Ours: the CPU engine at each thread count, forward and
// forward + backward (ONNX Runtime's operators are inference-only). Peers: onnxruntime-node's
// com.microsoft.SparseAttention (the same layout as CSR tables; its CPU kernel computes dense scores,
// then masks) and com.microsoft.GroupQueryAttention (dense causal; with local_window_size where the
// layout is a window), intra_op_num_threads = the same thread count, measured in the same run.
//   node --import tsx bench/gqa-ort.ts [--threads 1,2,16] [--N 8192,32768] [--ops forward,forward+backward]
//     [--sweep-N 8192] [--sweep-local 6,12,24,48,96,128] [--sweep-threads 16] [--reps 3] [--cap-s 30]
//     [--ort-mem-gb G] [--no-ort] [--peers sparse,gqa] [--machine "label"] [--shared] [--out bench/results/gqa-ort.json]
// Both CPU kernels of ONNX Runtime allocate a [B, Hq, S, T] float probability buffer (137 GB at
// N 32768, Hq 32). Where all heads do not fit in --ort-mem-gb (default: half the machine's memory),
// ONNX Runtime runs on the first h query heads (h a multiple of Hq/Hkv, kv heads with them) and its
// time is scaled by Hq/h: both kernels' work and memory are per head. Rows say so (heads, scaledBy).
// The density sweep: windows only (Phi3SmallSparsityConfig with numLocalBlocks L and no vertical
// stride) at N = --sweep-N, ours forward against ONNX Runtime's dense GroupQueryAttention (and its
// local_window_size = L·block); break-even is where our time, interpolated linearly in density
// between the points around it, equals ONNX Runtime's dense time.
import os from 'node:os';
import { parseFlags } from '../cli/flags.js';
import { bhndToBsnh, bsnhToBhnd } from '../cli/peers/bsnh.js';
import { timeClean, type CleanTiming } from '../cli/peers/machine.js';
import { ortGqaSession, ortProbabilityBytes, type OrtGqaOp } from '../cli/peers/ort-gqa.js';
import { mulberry32, uniformFloats } from '../cli/random.js';
import { textTable } from '../cli/table.js';
import { writeJson } from '../cli/write-json.js';
import { Phi3SmallSparsityConfig, createEngine, describeLayout, type DeviceTensor, type Engine, type Layout } from '../src/index.js';
import { breakEven, gqaOrtTable, machineInfo, type GqaOrtRow } from './report/ort-tables.js';

const flags = parseFlags({
  threads: 'list', N: 'list', ops: 'list', 'sweep-N': 'int', 'sweep-local': 'list', 'sweep-threads': 'list', reps: 'int', warmup: 'int',
  'cap-s': 'number', 'ort-mem-gb': 'number', 'no-ort': 'bool', peers: 'list', 'no-check': 'bool', machine: 'string', shared: 'bool', out: 'string',
});
const cores = os.cpus().length;
const threadCounts = flags.ints('threads', [...new Set([1, 2, cores])]);
const lengths = flags.ints('N', [8192, 32768]);
const ops = flags.list('ops', ['forward', 'forward+backward']) as Op[];
const sweepN = flags.int('sweep-N', 8192, 0); // 0: no sweep
const sweepLocal = flags.ints('sweep-local', [6, 12, 24, 48, 96, 128]);
const sweepThreads = flags.ints('sweep-threads', [Math.max(...threadCounts)]);
const [Hq, Hkv, D, block] = [32, 8, 128, 64];
const group = Hq / Hkv;
const timing = { warmup: flags.int('warmup', 1), reps: flags.int('reps', 3), capMs: flags.number('cap-s', 30) * 1000 };
const ortMem = flags.number('ort-mem-gb', os.totalmem() / 2 / 1e9) * 1e9;
const withOrt = !flags.bool('no-ort');
/** ONNX Runtime's operators to time (the sweep's dense rows are 'gqa'). */
const peers = new Set(flags.list('peers', ['sparse', 'gqa']));
const outFile = flags.string('out', 'bench/results/gqa-ort.json');

type Op = 'forward' | 'forward+backward';
const phi3 = (N: number) => new Phi3SmallSparsityConfig({ numHeads: Hq, block }).makeLayout(N);
/** Windows only: L local blocks, the vertical stride beyond every column. */
const window = (N: number, L: number) => new Phi3SmallSparsityConfig({ numHeads: Hq, block, numLocalBlocks: L, verticalStride: N / block + 1 }).makeLayout(N);

const rows: GqaOrtRow[] = [];
let checkResult: Record<string, unknown> = {};
const stats = (t: CleanTiming) => ({ ms: t.median, samples: t.samples, foreign: t.foreign, ownCores: t.own, enoughClean: t.enoughClean });

/** Ours on one engine: operands uploaded once, outputs kept on the backend (the time is the op). */
async function ours(engine: Engine, N: number, layout: Layout, layoutName: string, op: Op, threads: number, inputs: Inputs): Promise<GqaOrtRow> {
  const { nnz, density } = describeLayout(layout);
  const { q, k, v, dout } = inputs;
  const run = async () => {
    const out = (await engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true })) as DeviceTensor;
    out.destroy();
    if (op === 'forward+backward') {
      const g = await engine.attentionBackward({ q, k, v, layout, causal: true, dout, keepOnDevice: true });
      for (const x of [g.dq, g.dk, g.dv] as DeviceTensor[]) x.destroy();
    }
  };
  const t = await timeClean(run, timing);
  const flops = (op === 'forward' ? 4 : 10) * nnz * block * block * D;
  const row: GqaOrtRow = { impl: 'ours', op, threads, N, layout: layoutName, density, nnz, ...stats(t), gflopsKept: flops / t.median / 1e6, heads: Hq, scaledBy: 1, ok: true };
  log(row);
  return row;
}

/** The largest head slice (a divisor of Hq and a multiple of the group) whose probabilities fit. */
function headSlice(N: number): number | null {
  for (let h = Hq; h >= group; h /= 2) if (Hq % h === 0 && h % group === 0 && ortProbabilityBytes(h, N, N) <= ortMem) return h;
  return null;
}

async function ort(op: OrtGqaOp, N: number, layout: Layout, layoutName: string, threads: number, localWindow?: number): Promise<GqaOrtRow> {
  const { nnz, density } = describeLayout(layout);
  const impl = op === 'sparse' ? 'ort-sparse' : localWindow ? 'ort-gqa-window' : 'ort-gqa';
  const base = { impl, op: 'forward' as const, threads, N, layout: layoutName, density, nnz, heads: Hq, scaledBy: 1 };
  const h = headSlice(N);
  if (h === null) {
    const row = { ...base, ok: false, note: `could not run: even ${group} heads need ${(ortProbabilityBytes(group, N, N) / 1e9).toFixed(1)} GB of probabilities (limit ${(ortMem / 1e9).toFixed(1)} GB)` };
    log(row);
    return row;
  }
  const sliced = h === Hq ? layout : { block, shape: [h, layout.shape[1], layout.shape[2]] as [number, number, number], data: layout.data.subarray(0, h * layout.shape[1] * layout.shape[2]) };
  let session: Awaited<ReturnType<typeof ortGqaSession>> | undefined;
  try {
    session = await ortGqaSession({ op, Hq: h, Hkv: h / group, D, block, S: N, past: 0, layout: sliced, localWindow, threads });
    if (typeof session === 'string') {
      const row = { ...base, ok: false, note: session };
      log(row);
      return row;
    }
    const s = session;
    const t = await timeClean(() => s.run(), timing);
    const scaledBy = Hq / h;
    const ms = t.median * scaledBy;
    const row: GqaOrtRow = {
      ...base, ...stats(t), ms, msRan: t.median, heads: h, scaledBy, ok: true, operator: s.operator, version: s.version, sessionMs: s.sessionMs,
      gflopsKept: (4 * nnz * block * block * D) / ms / 1e6,
      // what it computes: every score of the S×T square, and P·V over it
      gflopsDense: (4 * Hq * N * N * D) / ms / 1e6,
      probabilityBytes: ortProbabilityBytes(h, N, N),
      ...(scaledBy > 1 ? { note: `ran on ${h} of ${Hq} query heads (${h / group} kv heads): ${(ortProbabilityBytes(Hq, N, N) / 1e9).toFixed(0)} GB of probabilities for all heads exceeds ${(ortMem / 1e9).toFixed(0)} GB; time ×${scaledBy}${h < threads ? `; its kernels share work out by head, so only ${h} of ${threads} threads had any: the scaled time overstates ONNX Runtime's` : ''}` } : {}),
    };
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

function log(r: GqaOrtRow): void {
  const what = `${r.impl.padEnd(14)} ${r.op.padEnd(16)} ${String(r.threads).padStart(2)}t N ${String(r.N).padStart(5)} ${r.layout.padEnd(10)} ${(100 * r.density).toFixed(1).padStart(5)}%`;
  console.log(r.ok ? `${what}  ${r.ms!.toFixed(1).padStart(9)} ms  ${r.gflopsKept!.toFixed(1).padStart(7)} GFLOP/s kept${r.scaledBy > 1 ? `  (${r.heads} heads ×${r.scaledBy})` : ''}` : `${what}  ${r.note}`);
}

interface Inputs { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; dout: DeviceTensor; host: { q: Float32Array; k: Float32Array; v: Float32Array } }
async function upload(engine: Engine, N: number): Promise<Inputs> {
  const rng = mulberry32(14);
  const host = { q: uniformFloats(Hq * N * D, rng), k: uniformFloats(Hkv * N * D, rng), v: uniformFloats(Hkv * N * D, rng) };
  return {
    q: await engine.upload({ data: host.q, shape: [1, Hq, N, D] }),
    k: await engine.upload({ data: host.k, shape: [1, Hkv, N, D] }),
    v: await engine.upload({ data: host.v, shape: [1, Hkv, N, D] }),
    dout: await engine.upload({ data: uniformFloats(Hq * N * D, rng), shape: [1, Hq, N, D] }),
    host,
  };
}
const release = (x: Inputs) => [x.q, x.k, x.v, x.dout].forEach((t) => t.destroy());

/** Same numbers into ours and both peers at a small N: the peers compute what we think they do. */
async function check(): Promise<Record<string, unknown>> {
  const N = 512;
  const engine = await createEngine({ backend: 'cpu', threads: 1 });
  const rng = mulberry32(7);
  const [q, k, v] = [uniformFloats(Hq * N * D, rng), uniformFloats(Hkv * N * D, rng), uniformFloats(Hkv * N * D, rng)];
  const result: Record<string, unknown> = { N };
  for (const [name, op, layout] of [['ort-sparse', 'sparse', phi3(N)], ['ort-gqa', 'gqa', window(N, N / block)]] as const) {
    const s = await ortGqaSession({ op, Hq, Hkv, D, block, S: N, past: 0, layout, threads: 1, q: bhndToBsnh(q, 1, Hq, N, D), k: bhndToBsnh(k, 1, Hkv, N, D), v: bhndToBsnh(v, 1, Hkv, N, D) });
    if (typeof s === 'string') return { skipped: s };
    const theirs = bsnhToBhnd(await s.run(), 1, Hq, N, D);
    await s.release();
    const mine = (await engine.attention({ q: { data: q, shape: [1, Hq, N, D] }, k: { data: k, shape: [1, Hkv, N, D] }, v: { data: v, shape: [1, Hkv, N, D] }, layout, causal: true })).data as Float32Array;
    let worst = 0;
    for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - theirs[i]!) / (1e-4 + 1e-3 * Math.abs(theirs[i]!)));
    result[name] = { worstErrorOverTolerance: worst, agrees: worst <= 1 };
    console.log(`check N ${N}: ${name} against ours: worst |Δ| / (1e-4 + 1e-3·|ort|) = ${worst.toFixed(3)}`);
  }
  await engine.close();
  return result;
}

checkResult = withOrt && !flags.bool('no-check') ? await check() : { skipped: withOrt ? '--no-check' : '--no-ort' };
/** The result document, rewritten after every measurement so that a run cut short keeps what it measured. */
async function save(complete: boolean) {
  const doc = {
    complete,
    machine: machineInfo(flags.string('machine', os.hostname()), flags.bool('shared')),
    problem: { B: 1, Hq, Hkv, D, block, causal: true, layout: 'Phi3SmallSparsityConfig (numLocalBlocks 16, verticalStride 8, a different offset per head)', sweep: `windows: numLocalBlocks ${sweepLocal.join(', ')}, no vertical stride, N ${sweepN}` },
    timing: { ...timing, how: 'median of the samples taken while other processes used < 0.15 cores (cli/peers/machine.ts timeClean); ours: DeviceTensors in, outputs kept on the backend; ONNX Runtime: session.run with the cache bound as present' },
    ortMemoryLimitBytes: ortMem,
    flops: 'gflopsKept: 4·nnz·block²·D forward, 10·nnz·block²·D forward + backward (kept blocks whole, the same count for every implementation); gflopsDense: 4·Hq·N²·D, the square ONNX Runtime computes',
    check: checkResult,
    results: rows,
    breakEven: breakEven(rows, sweepN),
  };
  await writeJson(outFile, doc);
  return doc;
}

async function add(row: GqaOrtRow): Promise<void> {
  rows.push(row);
  await save(false);
}

const sweepAt = new Set(sweepThreads);
for (const threads of threadCounts) {
  const engine = await createEngine({ backend: 'cpu', threads });
  const Ns = [...new Set([...lengths, ...(sweepAt.has(threads) && sweepN > 0 ? [sweepN] : [])])].sort((a, b) => a - b);
  for (const N of Ns) {
    const inputs = await upload(engine, N);
    const layout = phi3(N);
    if (lengths.includes(N)) {
      for (const op of ops) await add(await ours(engine, N, layout, 'phi3-small', op, threads, inputs));
      if (withOrt && peers.has('sparse')) await add(await ort('sparse', N, layout, 'phi3-small', threads));
    }
    if (withOrt && peers.has('gqa')) await add(await ort('gqa', N, window(N, N / block), 'causal', threads));
    if (N === sweepN && sweepAt.has(threads)) {
      for (const L of sweepLocal.filter((l) => l <= N / block)) {
        const w = window(N, L);
        const name = L === N / block ? 'causal' : `window-${L}`;
        await add(await ours(engine, N, w, name, 'forward', threads, inputs));
        if (withOrt && L < N / block) await add(await ort('gqa', N, w, name, threads, L * block));
      }
    }
    release(inputs);
  }
  await engine.close();
}

const doc = await save(true);

console.log(`\n${textTable(gqaOrtTable(doc))}`);
for (const b of doc.breakEven) console.log(b.text);
console.log(`wrote ${outFile}`);
