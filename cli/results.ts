// The shape of results.json: what a bench run found, in one document. The table, report.md and
// the plots are all drawn from it (`blocksparse report` re-draws them from the file alone).
import type { CoreCeiling } from './ceiling.js';
import { median } from './stats.js';
import type { MachineInfo, RuntimeInfo } from './runtime.js';

export const SCHEMA = 'blocksparse-bench/1';

/** How FLOPs are counted (on kept blocks only, per batch and head summed over all heads). */
export const FLOP_FORMULAS = {
  forward: '4 · B · nnz · block² · D (q·kᵀ and p·v on the kept blocks; nnz counts kept blocks over all heads)',
  backward: '10 · B · nnz · block² · D (q·kᵀ recomputed, dO·vᵀ, dS·k, pᵀ·dO, dSᵀ·q on the kept blocks, as bench/cpu-attention.ts counts; the unfused pipeline, which keeps p and skips the recomputation, is charged the same)',
  note: 'softmax and exp are not counted; the naive and peer baselines are charged the same FLOPs as the layout they stand in for, so their GFLOP/s is an effective rate',
} as const;

export type Op = 'forward' | 'backward';
/** fused: engine.attention(Backward); unfused: sdd → softmax → dsd (and their backward); naive: plain TypeScript; peer:<id>: another library. */
export type Impl = 'fused' | 'unfused' | 'naive' | `peer:${string}`;

export function flopsFor(op: Op, B: number, nnz: number, block: number, D: number): number {
  return (op === 'forward' ? 4 : 10) * B * nnz * block * block * D;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  mean: number;
}

export interface Measurement {
  /** A backend run's id: 'cpu-1t', 'cpu-2t', 'webgpu', or 'js' (naive) / 'peer' rows. */
  run: string;
  layout: string;
  impl: Impl;
  op: Op;
  N: number;
  B: number;
  H: number;
  D: number;
  block: number;
  /** Kept blocks over all heads. */
  nnz: number;
  density: number;
  flops: number;
  /** Milliseconds per call over the timed repetitions. */
  ms: Stats;
  reps: number;
  warmup: number;
  samples: number[];
  /** flops / median, in GFLOP/s. */
  gflops: number;
  /** Resident set size right after the measurement. */
  rssBytes: number;
  /** Bytes of block-sparse intermediates the call materialises (unfused: the score blocks; fused: 0). */
  intermediateBytes: number;
  /** Why this measurement deserves a second look (e.g. a single rep). */
  notes?: string[];
}

export interface Skip {
  run: string;
  layout: string;
  impl: Impl;
  op: Op;
  /** The smallest N skipped; larger ones were skipped too. */
  N: number;
  reason: string;
}

export interface RunInfo {
  id: string;
  label: string;
  backend: 'cpu' | 'webgpu' | 'js' | 'peer';
  threads?: number;
  /** engine.info as the engine reported it. */
  info?: Record<string, unknown>;
  /** Present when the run did not happen. */
  skipped?: string;
  budgetS?: number;
  usedS?: number;
}

export interface LayoutInfo {
  name: string;
  className: string;
  summary: string;
  /** Config options at the smallest N (strided's stride changes with N). */
  options: Record<string, unknown>;
  perSeq: Array<{ N: number; nnz: number; density: number; options?: Record<string, unknown> }>;
}

/** Outputs of another implementation against the fused kernels' on the same run, inputs and layout. */
export interface Check {
  run: string;
  layout: string;
  impl: Impl;
  op: Op;
  N: number;
  /** max |other − fused| over every output (out; or dq, dk, dv). */
  maxAbsDiff: number;
  /** max |fused| over the same outputs, for scale. */
  maxAbs: number;
  ok: boolean;
}

export interface Fit {
  run: string;
  layout: string;
  impl: Impl;
  op: Op;
  /** t ≈ c · N^exponent over the measured sizes (least squares in log-log; calls under FIT_MIN_MS left out while two longer ones remain). */
  exponent: number;
  points: number;
  fromN: number;
  toN: number;
}

export interface BenchResults {
  schema: typeof SCHEMA;
  createdAt: string;
  argv: string[];
  simulated: boolean;
  options: Record<string, unknown>;
  machine: MachineInfo;
  /** One core's ceiling for the CPU kernels' code (cli/ceiling.ts); null without a CPU run or when simulated. */
  ceiling?: CoreCeiling | null;
  runtime: RuntimeInfo & { blocksparse: string; dependencies: Record<string, string> };
  formulas: typeof FLOP_FORMULAS;
  runs: RunInfo[];
  layouts: LayoutInfo[];
  measurements: Measurement[];
  skipped: Skip[];
  fits: Fit[];
  checks: Check[];
  notes: string[];
  memory: { peakRssBytes: number | null; sampledPeakRssBytes: number };
  durationS: number;
}


export function stats(samples: number[]): Stats {
  return {
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

/** Calls shorter than this are mostly fixed overhead (dispatch, copies): fits leave them out while two longer ones remain. */
export const FIT_MIN_MS = 1;

/** The points a fit uses: those of at least FIT_MIN_MS when two sizes have them, else all. */
export function fitPoints<P extends { N: number; ms: number }>(points: P[]): P[] {
  const all = points.filter((p) => p.N > 0 && p.ms > 0);
  const long = all.filter((p) => p.ms >= FIT_MIN_MS);
  return new Set(long.map((p) => p.N)).size >= 2 ? long : all;
}

/** Least-squares slope of log t against log N; null with fewer than two sizes. */
export function fitExponent(points: Array<{ N: number; ms: number }>): number | null {
  const pts = fitPoints(points);
  if (new Set(pts.map((p) => p.N)).size < 2) return null;
  const xs = pts.map((p) => Math.log(p.N));
  const ys = pts.map((p) => Math.log(p.ms));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}

/** Fits for every (run, layout, impl, op) with at least two sizes. */
export function computeFits(ms: Measurement[]): Fit[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of ms) {
    const key = `${m.run}\u0000${m.layout}\u0000${m.impl}\u0000${m.op}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(m);
  }
  const fits: Fit[] = [];
  for (const group of groups.values()) {
    const pts = group.map((m) => ({ N: m.N, ms: m.ms.median }));
    const e = fitExponent(pts);
    if (e === null) continue;
    const used = fitPoints(pts);
    const Ns = used.map((p) => p.N);
    const { run, layout, impl, op } = group[0]!;
    fits.push({ run, layout, impl, op, exponent: e, points: used.length, fromN: Math.min(...Ns), toN: Math.max(...Ns) });
  }
  return fits;
}

/** The measurement for a key, if any. */
export function find(ms: Measurement[], run: string, layout: string, impl: Impl, op: Op, N: number): Measurement | undefined {
  return ms.find((m) => m.run === run && m.layout === layout && m.impl === impl && m.op === op && m.N === N);
}
