// Long sequences on the CPU engine: forward attention at N = 1,048,576 (B = 1, H = 1, D = 64,
// block 64) with sparse layouts, and the longest N that dense attention reaches before memory or a
// time cap stops it.
//   node --import tsx bench/long-sequence.ts [--threads T] [--cap-s 120] [--N 1048576]
//        [--cases sparse|dense|all] [--sparse-layouts local-global,sliding-window,strided]
//        [--dense-start 4096] [--wait-quiet 120]
//        [--out bench/results/long-sequence-<host>.json]
// Each case runs in a child process (so that a case killed by the cap or by memory leaves the
// others running, and so that its peak RSS is its own): inputs, layout, compileLayout and the
// engine call are timed apart; memory is the peak RSS (process.resourceUsage().maxRSS, and a
// worker thread sampling process.memoryUsage().rss every 20 ms while the call runs) and the
// engine's WebAssembly.Memory size after the call. A few rows are checked against a float64
// reference.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compileLayout, createEngine, DenseSparsityConfig, layoutFromMask, LocalSlidingWindowSparsityConfig, StridedSparsityConfig } from '../src/index.js';
import type { Layout } from '../src/index.js';
import { cpuBusy, waitForQuiet, withForeignLoad } from '../cli/peers/machine.js';
import { parseFlags } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { writeJson } from '../cli/write-json.js';
import { referenceAttentionRows } from './peers/reference.js';
import { maxAbsDiff } from '../cli/workloads.js';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;

type LayoutKind = 'local-global' | 'sliding-window' | 'strided' | 'dense-config' | 'dense-ones';

interface CaseSpec {
  name: string;
  kind: LayoutKind;
  N: number;
  H: number;
  D: number;
  block: number;
  causal: boolean;
  threads: number;
  /** Layout parameters, by kind. */
  params: Record<string, number>;
}

interface CaseResult {
  spec: CaseSpec;
  ok: boolean;
  /** What stopped it: 'time cap', 'killed (memory?)', an error message. */
  stopped?: string;
  nnz?: number;
  density?: number;
  layoutBytes?: number;
  ms?: { inputs: number; layout: number; compile: number; engine: number; attention: number; wall: number };
  memory?: { peakRssMiB: number; sampledPeakRssMiB: number; rssBeforeCallMiB: number; wasmMemoryMiB: number | null; heapUsedMiB: number; arrayBuffersMiB: number };
  gflops?: number;
  engineThreads?: number;
  /** During the call: other processes' CPU use and this process's, in cores. */
  load?: { foreignCores: number; ownCores: number };
  check?: { rows: number; maxAbsDiff: number };
  wallS?: number;
}

function parseArgs() {
  const f = parseFlags({
    N: 'int', D: 'int', block: 'int', threads: 'int', 'cap-s': 'number', 'dense-start': 'int', 'wait-quiet': 'int',
    'sparse-layouts': 'list', cases: 'string', case: 'string', out: 'string',
  });
  const cases = f.string('cases', 'all');
  if (!['sparse', 'dense', 'all'].includes(cases)) throw new RangeError(`--cases is sparse, dense or all, got ${cases}`);
  return {
    N: f.int('N', 1 << 20),
    D: f.int('D', 64),
    block: f.int('block', 64),
    threads: f.int('threads', os.availableParallelism?.() ?? os.cpus().length),
    capS: f.number('cap-s', 120),
    denseStart: f.int('dense-start', 4096),
    waitQuiet: f.int('wait-quiet', 120, 0),
    sparseLayouts: f.list('sparse-layouts', ['local-global', 'sliding-window', 'strided']),
    cases,
    child: f.string('case'),
    out: f.string('out', resolve(here, 'results', `long-sequence-${os.hostname()}.json`)),
  };
}

function buildLayout(spec: CaseSpec): Layout {
  const nb = spec.N / spec.block;
  const p = spec.params;
  switch (spec.kind) {
    case 'local-global':
      // block row r keeps r - window + 1 .. r and block column 0 (unidirectional)
      return layoutFromMask(spec.H, nb, (_h, r, c) => c <= r && (r - c < p.windowBlocks || c < p.globalBlocks), spec.block);
    case 'sliding-window':
      return new LocalSlidingWindowSparsityConfig({ numHeads: spec.H, block: spec.block, numSlidingWindowBlocks: p.numSlidingWindowBlocks, attention: 'unidirectional' }).makeLayout(spec.N);
    case 'strided':
      return new StridedSparsityConfig({ numHeads: spec.H, block: spec.block, localWindowBlocks: p.localWindowBlocks, stride: p.stride, attention: 'unidirectional' }).makeLayout(spec.N);
    case 'dense-config':
      return new DenseSparsityConfig({ numHeads: spec.H, block: spec.block }).makeLayout(spec.N);
    case 'dense-ones':
      return layoutFromMask(spec.H, nb, () => true, spec.block);
  }
}

/** A worker thread that samples the process's RSS (the main thread may be busy in a kernel). */
function startRssSampler(): { stop(): Promise<number> } {
  const code = `
    const { parentPort } = require('node:worker_threads');
    let peak = process.memoryUsage.rss();
    const t = setInterval(() => { const r = process.memoryUsage.rss(); if (r > peak) peak = r; }, 20);
    parentPort.on('message', () => { clearInterval(t); const r = process.memoryUsage.rss(); parentPort.postMessage(Math.max(peak, r)); });
  `;
  const w = new Worker(code, { eval: true });
  return {
    stop: () => new Promise<number>((res) => {
      w.once('message', (peak: number) => { void w.terminate(); res(peak); });
      w.postMessage('stop');
    }),
  };
}

function wasmMemoryBytes(engine: unknown): number | null {
  // bench-only peek at the CPU backend's arena: engine.impl.arena.memory
  const mem = (engine as { impl?: { arena?: { memory?: WebAssembly.Memory } } }).impl?.arena?.memory;
  return mem ? mem.buffer.byteLength : null;
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const t00 = performance.now();
  const { N, H, D, block } = spec;
  const size = H * N * D;
  let t0 = performance.now();
  const q = uniformFloats(size, 1), k = uniformFloats(size, 2), v = uniformFloats(size, 3);
  const inputs = performance.now() - t0;
  t0 = performance.now();
  const layout = buildLayout(spec);
  const layoutMs = performance.now() - t0;
  t0 = performance.now();
  const compiled = compileLayout(layout); // cached by layout.data: the engine call reuses it
  const compile = performance.now() - t0;
  t0 = performance.now();
  const engine = await createEngine({ backend: 'cpu', threads: spec.threads });
  const engineMs = performance.now() - t0;
  const rssBefore = process.memoryUsage.rss();
  const sampler = startRssSampler();
  const call = await withForeignLoad(() => engine.attention({ q: { data: q, shape: [1, H, N, D] }, k: { data: k, shape: [1, H, N, D] }, v: { data: v, shape: [1, H, N, D] }, layout, causal: spec.causal }));
  const out = call.value;
  const attention = call.ms;
  const sampledPeak = await sampler.stop();
  const wasm = wasmMemoryBytes(engine);
  const engineThreads = (engine.info as { threads?: number }).threads;
  const mu = process.memoryUsage();
  await engine.close();
  // spot check: a few rows, spread over the sequence (the first, the last, some between)
  const rows = [0, 1, block - 1, block, Math.floor(N / 2) + 3, N - block, N - 2, N - 1];
  const ref = referenceAttentionRows(q, k, v, { B: 1, H, N, D, causal: spec.causal, layout }, rows);
  const got = new Float32Array(rows.length * D);
  rows.forEach((r, t) => got.set(out.data.subarray(r * D, r * D + D), t * D));
  const keptBlocks = compiled.causalTables(spec.causal).kept;
  return {
    spec,
    ok: true,
    nnz: compiled.nnz,
    density: compiled.density,
    layoutBytes: layout.data.byteLength,
    ms: { inputs, layout: layoutMs, compile, engine: engineMs, attention, wall: performance.now() - t00 },
    memory: {
      peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB,
      sampledPeakRssMiB: sampledPeak / MiB,
      rssBeforeCallMiB: rssBefore / MiB,
      wasmMemoryMiB: wasm === null ? null : wasm / MiB,
      heapUsedMiB: mu.heapUsed / MiB,
      arrayBuffersMiB: mu.arrayBuffers / MiB,
    },
    // kept blocks (diagonal ones counted whole), 4·block²·D each: q·kᵀ and p·v
    gflops: (4 * keptBlocks * block * block * D) / (attention * 1e6),
    engineThreads,
    load: { foreignCores: call.foreign, ownCores: call.own },
    check: { rows: rows.length, maxAbsDiff: maxAbsDiff([got], [ref]) },
  };
}

// ---- child mode: one case, one JSON line
const args = parseArgs();
if (args.child !== undefined) {
  const spec = JSON.parse(args.child) as CaseSpec;
  try {
    const r = await runCase(spec);
    process.stdout.write(`\n@@RESULT ${JSON.stringify(r)}\n`);
  } catch (e) {
    const r: CaseResult = { spec, ok: false, stopped: `${(e as Error).name}: ${(e as Error).message}`, memory: { peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB, sampledPeakRssMiB: 0, rssBeforeCallMiB: 0, wasmMemoryMiB: null, heapUsedMiB: 0, arrayBuffersMiB: 0 } };
    process.stdout.write(`\n@@RESULT ${JSON.stringify(r)}\n`);
  }
  process.exit(0);
}

// ---- parent: run the cases, each in its own process with a time cap on the whole case
function runChild(spec: CaseSpec, capS: number): Promise<CaseResult> {
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--case', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    // the cap is on the attention call; inputs, layout and reference checks get a margin
    const timer = setTimeout(() => child.kill('SIGKILL'), (capS + 60 + spec.N / 8192) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - t0) / 1000;
      const line = stdout.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (line) {
        const r = JSON.parse(line.slice(9)) as CaseResult;
        r.wallS = wallS;
        if (r.ok && r.ms!.attention > capS * 1000) { r.ok = false; r.stopped = `time cap: the call took ${(r.ms!.attention / 1000).toFixed(1)} s > ${capS} s`; }
        res(r);
        return;
      }
      const why = signal === 'SIGKILL' && wallS >= capS ? `time cap (killed after ${wallS.toFixed(0)} s)` :
        `child ended with ${signal ?? `code ${code}`} (memory? ${stderr.trim().split('\n').slice(-3).join(' ')})`;
      res({ spec, ok: false, stopped: why, wallS });
    });
  });
}

function show(r: CaseResult): string {
  const s = r.spec;
  const head = `${r.spec.name.padEnd(26)} N=${String(s.N).padStart(8)}`;
  if (!r.ok && !r.ms) return `${head}  STOPPED: ${r.stopped}`;
  const m = r.ms!, mem = r.memory!;
  const load = r.load ? `, this process ${r.load.ownCores.toFixed(2)} cores, others ${r.load.foreignCores.toFixed(2)}` : '';
  return `${head}  call ${(m.attention / 1000).toFixed(2)} s (${r.gflops!.toFixed(1)} GFLOP/s, ${r.engineThreads} threads${load})  ` +
    `nnz ${r.nnz} density ${r.density!.toExponential(2)}  layout ${(m.layout / 1000).toFixed(2)} s compile ${(m.compile / 1000).toFixed(2)} s  ` +
    `peak RSS ${mem.peakRssMiB.toFixed(0)} MiB (sampled ${mem.sampledPeakRssMiB.toFixed(0)}), Wasm ${mem.wasmMemoryMiB?.toFixed(0) ?? '?'} MiB  ` +
    `check ${r.check!.maxAbsDiff.toExponential(1)}${r.ok ? '' : `  STOPPED: ${r.stopped}`}`;
}

const results: CaseResult[] = [];
const base = { H: 1, D: args.D, block: args.block, threads: args.threads };
const quiet = await waitForQuiet(args.waitQuiet);
console.log(`long-sequence bench on ${os.hostname()}: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; threads ${args.threads}, cap ${args.capS} s; cores busy before start: ${(100 * quiet.busy).toFixed(0)}%${quiet.quiet ? '' : ` (still, after waiting ${quiet.waitedS.toFixed(0)} s)`}`);
if (args.cases !== 'dense') {
  const N = args.N;
  const nb = N / args.block;
  const sparse: CaseSpec[] = [
    { ...base, N, name: 'local-global (3 + col 0)', kind: 'local-global', causal: true, params: { windowBlocks: 3, globalBlocks: 1 } },
    { ...base, N, name: 'sliding-window (3)', kind: 'sliding-window', causal: true, params: { numSlidingWindowBlocks: 3 } },
    { ...base, N, name: `strided (4, ${Math.round(Math.sqrt(nb))})`, kind: 'strided', causal: true, params: { localWindowBlocks: 4, stride: Math.round(Math.sqrt(nb)) } },
  ];
  for (const spec of sparse.filter((c) => args.sparseLayouts.includes(c.kind))) {
    const r = await runChild(spec, args.capS);
    results.push(r);
    console.log(show(r));
  }
}
const denseReached: Record<string, number | null> = {};
if (args.cases !== 'sparse') {
  // doubling from dense-start; the next size is skipped when the last call predicts (×4 work) more than twice the cap
  let N = args.denseStart;
  let last: CaseResult | undefined;
  let best: CaseResult | undefined;
  for (;;) {
    if (last?.ok && last.ms!.attention * 4 > 2 * args.capS * 1000) {
      const predicted = (last.ms!.attention * 4) / 1000;
      results.push({ spec: { ...base, N, name: 'dense (DenseSparsityConfig)', kind: 'dense-config', causal: false, params: {} }, ok: false, stopped: `not run: predicted ${predicted.toFixed(0)} s from N=${N / 2} (×4), past the ${args.capS} s cap` });
      console.log(show(results[results.length - 1]));
      break;
    }
    const r = await runChild({ ...base, N, name: 'dense (DenseSparsityConfig)', kind: 'dense-config', causal: false, params: {} }, args.capS);
    results.push(r);
    console.log(show(r));
    if (!r.ok) break;
    best = r;
    last = r;
    N *= 2;
  }
  denseReached['dense-config'] = best?.spec.N ?? null;
  if (best) {
    // one step between the last size reached and the one that failed (1.5x), when the cap may allow it
    const mid = Math.round((best.spec.N * 1.5) / args.block) * args.block;
    if (best.ms!.attention * 2.25 <= args.capS * 1000 * 1.1) {
      const r = await runChild({ ...best.spec, N: mid }, args.capS);
      results.push(r);
      console.log(show(r));
      if (r.ok) { denseReached['dense-config'] = mid; best = r; }
    }
    // the same size through a plain all-ones layoutFromMask
    const ones = await runChild({ ...best.spec, name: 'dense (all-ones mask)', kind: 'dense-ones' }, args.capS);
    results.push(ones);
    console.log(show(ones));
    denseReached['dense-ones'] = ones.ok ? ones.spec.N : null;
  }
  console.log(`longest dense N within ${args.capS} s: DenseSparsityConfig ${denseReached['dense-config'] ?? '—'}, all-ones layoutFromMask ${denseReached['dense-ones'] ?? '—'}`);
}

const doc = {
  schema: 'blocksparse-long-sequence/1',
  date: new Date().toISOString(),
  machine: { hostname: os.hostname(), cpu: os.cpus()[0]?.model, logicalCores: os.cpus().length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version },
  capS: args.capS,
  busyBefore: quiet.busy,
  busyAfter: await cpuBusy(),
  results,
  denseReached,
};
console.log(`wrote ${await writeJson(args.out, doc)}`);
