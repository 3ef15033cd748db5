// Benchmark of the fused CPU attention kernels (not a test): one thread, both SIMD builds.
//   node --import tsx bench/cpu-attention.ts [--quick] [--shape gqa] [--forward-only] [--out F]
// Writes bench/results/cpu-attention.json (or F), then prints a table from it. Figures:
// - ceiling: matmulCeiling (assembly/tiles.ts), the best register-tiled AssemblyScript matmul we
//   have (packed operands, L1-resident), in GFLOP/s: the yardstick;
// - FMA peak (relaxed build only): fmaPeak, 12 chains of fused multiply-adds on registers, the
//   core's own rate for 128-bit code, which no Wasm kernel can pass;
// - forward and backward at N=4096, H=8, B=1, D=64, block 64, a BSLongformer layout (sliding
//   window 3, global block 0: 7.7% density). FLOPs are counted on kept blocks only: forward
//   4·block²·D per kept block per batch·head (QKᵀ and PV; exp, softmax and masks not counted),
//   backward 10·block²·D (QKᵀ, dO·Vᵀ, dS·K, Pᵀ·dO, dSᵀ·Q);
// - `--shape gqa`: issue 14's real-model shape instead, scaled to one thread: Hq 8 over Hkv 2, D 128,
//   N 4096, block 64, Phi-3-small's pattern, causal (kept blocks counted whole);
// - `--forward-only`: the ceiling and the forward only (no backward, dense or naive runs);
// - backward / forward time; sparse / dense time, the same kernels on an all-ones layout;
// - cli/naive.ts, plain TypeScript loops over the kept blocks, as the baseline.
// Every time is a median over REPS runs after one warm-up run, of the process's CPU time
// (user + system, process.cpuUsage) spent in the kernels: on a shared machine, wall-clock times
// swing with the neighbours' load, CPU time much less. Wall-clock medians of the kernels and of
// the whole host call (copies into and out of Wasm memory included) are kept in the JSON too.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Arena } from '../src/cpu/arena.js';
import { parseFlags, UsageError } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { fmaPeakCall, matmulCeilingCall, type YardstickCall } from '../cli/ceiling.js';
import { attentionBackward, attentionForward } from '../src/cpu/attention.js';
import type { CpuContext, LayoutTablePointers } from '../src/cpu/context.js';
import { uploadLayoutTables } from '../src/cpu/tables.js';
import { createMemory, instantiate, loadKernelModule, type KernelExports, type SimdBuild } from '../src/cpu/wasm.js';
import { positionalArgs, type KernelArgs, type KernelName } from '../src/cpu/kernels.js';
import type { AttentionBackwardProblem } from '../src/backend.js';
import { compileLayout, type CompiledLayout } from '../src/layouts/compile.js';
import { BSLongformerSparsityConfig, DenseSparsityConfig, Phi3SmallSparsityConfig } from '../src/layouts/index.js';
import { naiveAttention, naiveAttentionBackward } from '../cli/naive.js';

const flags = parseFlags({ quick: 'bool', shape: 'string', 'forward-only': 'bool', out: 'string' });
const quick = flags.bool('quick');
const forwardOnly = flags.bool('forward-only');
const shape = flags.string('shape', 'mha');
if (shape !== 'mha' && shape !== 'gqa') throw new UsageError(`--shape: expected mha or gqa, got '${shape}'`);
const gqa = shape === 'gqa';
const B = 1, H = 8, HKV = gqa ? 2 : 8, N = 4096, D = gqa ? 128 : 64, BLOCK = 64;
const OUT = flags.string('out') ?? fileURLToPath(new URL('./results/cpu-attention.json', import.meta.url));
const REPS = quick ? 3 : 9;
const DENSE_REPS = quick ? 1 : 3;
const NAIVE_REPS = quick ? 1 : 3;
const BUILDS = ['simd', 'relaxed'] as const;

interface Timing {
  medianMs: number;
  minMs: number;
}

function summarize(ms: number[]): Timing {
  return { medianMs: median(ms), minMs: Math.min(...ms) };
}

/** CPU time of this process, in ms, since `from` (or since it started). */
function cpuMs(from?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

/** Runs f and returns [wall ms, CPU ms]. */
function clock(f: () => void): [number, number] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  return [performance.now() - t0, cpuMs(c0)];
}

/** A CpuContext over its own memory that runs inline and adds up the time spent in kernels. */
class TimedContext implements CpuContext {
  readonly threads = 1;
  readonly roundTrips = null;
  wallMs = 0;
  cpuMs = 0;
  /** CPU ms per kernel export. */
  byKernel: Record<string, number> = {};
  private readonly cache = new Map<CompiledLayout, LayoutTablePointers>();
  constructor(readonly arena: Arena, readonly exports: KernelExports) {}

  persist(): never {
    throw new Error('TimedContext: keepOnDevice is not measured here');
  }

  tables(layout: CompiledLayout): LayoutTablePointers {
    const t = this.cache.get(layout);
    if (!t) throw new Error('tables not uploaded');
    return t;
  }

  /** As the backend does, between calls: the tables are persistent allocations. */
  upload(layout: CompiledLayout): void {
    if (!this.cache.has(layout)) this.cache.set(layout, uploadLayoutTables(this.arena, layout).pointers);
  }

  async run<K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]): Promise<void> {
    const fn = this.exports[kernel];
    const calls = tasks.map((args) => positionalArgs(kernel, args));
    const [wall, cpu] = clock(() => {
      for (const args of calls) fn(...args);
    });
    this.wallMs += wall;
    this.cpuMs += cpu;
    this.byKernel[kernel] = (this.byKernel[kernel] ?? 0) + cpu;
  }
}

async function setup(build: SimdBuild): Promise<TimedContext> {
  const { module } = await loadKernelModule(build);
  const memory = createMemory(256);
  return new TimedContext(new Arena(memory), instantiate(module, memory));
}

/**
 * matmulCeiling on packed, L1-resident M×N×K operands, in a context of its own (so that it can run
 * between the kernels' rounds): returns a function that times one round, in GFLOP/s (CPU time).
 */
function ceilingRound(ctx: TimedContext, M: number, Nc: number, K: number): () => number {
  ctx.arena.reset();
  return cpuRate(matmulCeilingCall(ctx.exports, ctx.arena, M, Nc, K, Math.max(1, Math.round(2e8 / (2 * M * Nc * K)))));
}

/** A yardstick call's GFLOP/s over one run, by this process's CPU time. */
function cpuRate({ flops, run }: YardstickCall): () => number {
  return () => flops / clock(run)[1] / 1e6;
}

/** fmaPeak (registers only: the core's 128-bit FMA rate) in a context of its own: one round, in GFLOP/s (CPU time). */
function peakRound(ctx: TimedContext): () => number {
  return cpuRate(fmaPeakCall(ctx.exports, 2e7));
}

/** fmaPeak's median GFLOP/s over 9 rounds, and the 64³ ceiling's share of it, round by round. */
function peakAgainst(peak: () => number, ceiling64: () => number): { gflops: number; ceilingOfPeak: number } {
  const p: number[] = [];
  const of: number[] = [];
  for (let i = 0; i < 9; i++) {
    const c = ceiling64();
    p.push(peak());
    of.push(c / p[i]!);
  }
  return { gflops: median(p), ceilingOfPeak: median(of) };
}

/** The median GFLOP/s of 9 rounds. */
function ceiling(round: () => number): number {
  return median(Array.from({ length: 9 }, round));
}

interface Measured {
  /** CPU time in the kernels: the figures are computed from its median. */
  cpu: Timing;
  /** Wall time in the kernels. */
  wall: Timing;
  /** Wall time of the whole host call (copies into and out of Wasm memory included). */
  call: Timing;
  /** Median CPU ms per kernel export. */
  byKernel: Record<string, number>;
  /** The `between` figure of each timed round (the ceiling's GFLOP/s), in order. */
  between: number[];
  /** CPU ms of each timed round, in order. */
  rounds: number[];
}

async function measure(
  ctx: TimedContext, layout: CompiledLayout, f: () => Promise<unknown>, reps: number, between?: () => number,
): Promise<Measured> {
  const betweens: number[] = [];
  const cpu: number[] = [];
  const wall: number[] = [];
  const call: number[] = [];
  const byKernel: Record<string, number[]> = {};
  for (let i = 0; i <= reps; i++) {
    ctx.arena.reset();
    ctx.upload(layout);
    ctx.wallMs = 0;
    ctx.cpuMs = 0;
    ctx.byKernel = {};
    const t0 = performance.now();
    await f();
    const t = performance.now() - t0;
    ctx.arena.reset();
    if (i === 0) continue; // warm-up
    if (between) betweens.push(between());
    cpu.push(ctx.cpuMs);
    wall.push(ctx.wallMs);
    call.push(t);
    for (const [k, ms] of Object.entries(ctx.byKernel)) (byKernel[k] ??= []).push(ms);
  }
  return {
    cpu: summarize(cpu),
    wall: summarize(wall),
    call: summarize(call),
    byKernel: Object.fromEntries(Object.entries(byKernel).map(([k, ms]) => [k, summarize(ms).medianMs])),
    between: betweens,
    rounds: cpu,
  };
}

function problem(layout: CompiledLayout): AttentionBackwardProblem {
  const size = B * H * N * D;
  const kvSize = B * HKV * N * D;
  return {
    B, H, Hkv: HKV, N, Nk: N, kvStride: N, qOffset: new Int32Array(B), D,
    q: uniformFloats(size, 11), k: uniformFloats(kvSize, 12), v: uniformFloats(kvSize, 13), dout: uniformFloats(size, 14),
    layout, scale: 1 / Math.sqrt(D), causal: gqa, rpe: null, keyPadding: null, attnMask: null,
  };
}

const gflops = (flops: number, ms: number) => flops / ms / 1e6;

async function main(): Promise<void> {
  const sparseLayout = compileLayout(
    gqa
      ? new Phi3SmallSparsityConfig({ numHeads: H, block: BLOCK }).makeLayout(N)
      : new BSLongformerSparsityConfig({ numHeads: H, block: BLOCK, numSlidingWindowBlocks: 3, globalBlockIndices: [0] }).makeLayout(N),
  );
  const denseLayout = compileLayout(new DenseSparsityConfig({ numHeads: H, block: BLOCK }).makeLayout(N));
  const sparse = problem(sparseLayout);
  const dense: AttentionBackwardProblem = { ...sparse, layout: denseLayout };
  const fwdFlops = (L: CompiledLayout) => 4 * BLOCK * BLOCK * D * L.nnz * B;
  const bwdFlops = (L: CompiledLayout) => 10 * BLOCK * BLOCK * D * L.nnz * B;

  const builds: Record<string, unknown> = {};
  for (const build of BUILDS) {
    const ctx = await setup(build);
    const round64 = ceilingRound(await setup(build), 64, 64, 64);
    const c64 = ceiling(round64);
    const c128 = ceiling(ceilingRound(await setup(build), 128, 128, 64));
    const cD = D === 64 ? c64 : ceiling(ceilingRound(await setup(build), 64, 64, D));
    // the forward's rounds alternate with the 64×64×64 ceiling's: the per-round ratio cancels the drift
    const fwd = await measure(ctx, sparseLayout, () => attentionForward(ctx, sparse), REPS, round64);
    const ceilingGflops = Math.max(c64, c128, cD);
    const fg = gflops(fwdFlops(sparseLayout), fwd.cpu.medianMs);
    const perRound = median(fwd.rounds.map((ms, i) => gflops(fwdFlops(sparseLayout), ms) / fwd.between[i]!));
    // plain SIMD has no fused multiply-add: its mul + add chains are latency-bound, so no peak there
    // (rounds alternate with the 64×64×64 ceiling's, as the forward's do)
    const peak = build === 'relaxed' ? peakAgainst(peakRound(await setup(build)), round64) : { gflops: NaN, ceilingOfPeak: NaN };
    const ceilings = { gflops: ceilingGflops, m64n64k64: c64, m128n128k64: c128, [`m64n64k${D}`]: cD, fmaPeak: peak.gflops, m64n64k64OfPeak: peak.ceilingOfPeak };
    const forward = { ...fwd, gflops: fg, fractionOfCeiling: fg / ceilingGflops, fractionOfCeilingPerRound: perRound, fractionOfPeak: perRound * peak.ceilingOfPeak };
    if (forwardOnly) {
      builds[build] = { ceiling: ceilings, forward };
      console.error(`${build}: done`);
      continue;
    }
    const bwd = await measure(ctx, sparseLayout, () => attentionBackward(ctx, sparse), REPS);
    const dfwd = await measure(ctx, denseLayout, () => attentionForward(ctx, dense), DENSE_REPS);
    const dbwd = await measure(ctx, denseLayout, () => attentionBackward(ctx, dense), DENSE_REPS);
    builds[build] = {
      ceiling: ceilings,
      forward,
      backward: { ...bwd, gflops: gflops(bwdFlops(sparseLayout), bwd.cpu.medianMs) },
      backwardOverForward: bwd.cpu.medianMs / fwd.cpu.medianMs,
      backwardOverForwardWall: bwd.wall.medianMs / fwd.wall.medianMs,
      dense: {
        forward: { ...dfwd, gflops: gflops(fwdFlops(denseLayout), dfwd.cpu.medianMs) },
        backward: { ...dbwd, gflops: gflops(bwdFlops(denseLayout), dbwd.cpu.medianMs) },
      },
      sparseOverDense: {
        forward: fwd.cpu.medianMs / dfwd.cpu.medianMs,
        backward: bwd.cpu.medianMs / dbwd.cpu.medianMs,
      },
    };
    console.error(`${build}: done`);
  }

  // baseline: plain TypeScript (CPU time of the whole call)
  const nf: number[] = [];
  const nb: number[] = [];
  for (let i = 0; i < (forwardOnly ? 0 : NAIVE_REPS); i++) {
    nf.push(clock(() => naiveAttention(sparse))[1]);
    nb.push(clock(() => naiveAttentionBackward(sparse))[1]);
  }
  const naive = forwardOnly ? null : {
    forward: { ...summarize(nf), gflops: gflops(fwdFlops(sparseLayout), summarize(nf).medianMs) },
    backward: { ...summarize(nb), gflops: gflops(bwdFlops(sparseLayout), summarize(nb).medianMs) },
  };

  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, loadAverage: os.loadavg() },
    config: {
      B, H, Hkv: HKV, N, D, block: BLOCK, threads: 1, causal: gqa, forwardOnly,
      layout: gqa ? 'Phi3SmallSparsityConfig({ numHeads: 8 })' : 'BSLongformerSparsityConfig({ numSlidingWindowBlocks: 3, globalBlockIndices: [0] })',
      density: sparseLayout.density, nnz: sparseLayout.nnz, denseNnz: denseLayout.nnz,
      reps: REPS, denseReps: DENSE_REPS, naiveReps: NAIVE_REPS,
    },
    timing: 'medians after one warm-up run, of the CPU time (process.cpuUsage) spent in the kernels; wall-clock medians in wall and call',
    flops: 'kept blocks only, per batch·head: forward 4·block²·D, backward 10·block²·D per kept block (exp, softmax and masks not counted)',
    goals: {
      forwardFractionOfCeiling: 0.6, forwardGflops: { simd: 18, relaxed: 24 },
      backwardOverForward: 2.5, sparseOverDense: 1.3 * sparseLayout.density,
    },
    builds,
    naive,
  };
  await writeJson(OUT, result);
  printTable(result);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function printTable(r: any): void {
  const f = (x: number, d = 1) => x.toFixed(d);
  const rows: string[][] = [['', 'simd', 'relaxed', 'goal']];
  const get = (path: string) => BUILDS.map((b) => path.split('.').reduce((o, k) => o[k], r.builds[b]) as number);
  const add = (label: string, path: string, fmt: (x: number) => string, goal = '') => rows.push([label, ...get(path).map((x) => (Number.isNaN(x) ? '—' : fmt(x))), goal]);
  add('FMA peak GFLOP/s (fmaPeak, registers only)', 'ceiling.fmaPeak', (x) => f(x));
  add('ceiling GFLOP/s (matmulCeiling)', 'ceiling.gflops', (x) => f(x));
  add('64³ ceiling / FMA peak, per round', 'ceiling.m64n64k64OfPeak', (x) => f(100 * x, 0) + '%');
  add('forward GFLOP/s', 'forward.gflops', (x) => f(x), `≥ ${r.goals.forwardGflops.simd} / ${r.goals.forwardGflops.relaxed}`);
  add('forward / ceiling', 'forward.fractionOfCeiling', (x) => f(100 * x, 0) + '%', '≥ 60%');
  add('forward / 64³ ceiling, per round', 'forward.fractionOfCeilingPerRound', (x) => f(100 * x, 0) + '%', '≥ 90%');
  add('forward / FMA peak (the two per-round ratios)', 'forward.fractionOfPeak', (x) => f(100 * x, 0) + '%');
  add('forward ms', 'forward.cpu.medianMs', (x) => f(x));
  add('forward call ms, wall clock', 'forward.call.medianMs', (x) => f(x));
  if (!r.config.forwardOnly) {
    add('backward GFLOP/s', 'backward.gflops', (x) => f(x));
    add('backward ms', 'backward.cpu.medianMs', (x) => f(x));
    add('backward / forward', 'backwardOverForward', (x) => f(x, 2), '≤ 2.5');
    add('backward / forward, wall clock', 'backwardOverForwardWall', (x) => f(x, 2));
    add('dense forward GFLOP/s', 'dense.forward.gflops', (x) => f(x));
    add('dense backward GFLOP/s', 'dense.backward.gflops', (x) => f(x));
    add('sparse / dense forward', 'sparseOverDense.forward', (x) => f(x, 4), `≤ ${f(r.goals.sparseOverDense, 4)}`);
    add('sparse / dense backward', 'sparseOverDense.backward', (x) => f(x, 4), `≤ ${f(r.goals.sparseOverDense, 4)}`);
    add('forward speed-up over naive TS', 'forward.cpu.medianMs', (x) => f(r.naive.forward.medianMs / x) + '×');
    add('backward speed-up over naive TS', 'backward.cpu.medianMs', (x) => f(r.naive.backward.medianMs / x) + '×');
    add('backward call ms, wall clock', 'backward.call.medianMs', (x) => f(x));
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log(
    `N=${r.config.N} H=${r.config.H} B=${r.config.B} D=${r.config.D} block=${r.config.block}, density ${f(100 * r.config.density, 2)}% ` +
      `(${r.config.nnz} kept blocks), Hkv ${r.config.Hkv}${r.config.causal ? ', causal' : ''}, 1 thread, ${r.machine.cpu}, ${r.machine.node}; medians of kernel CPU time`,
  );
  for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
  if (r.naive) console.log(
    `naive TypeScript: forward ${f(r.naive.forward.medianMs, 0)} ms (${f(r.naive.forward.gflops, 2)} GFLOP/s), ` +
      `backward ${f(r.naive.backward.medianMs, 0)} ms (${f(r.naive.backward.gflops, 2)} GFLOP/s)`,
  );
}

await main();
