// How the time budget is spent. Runs (a backend at a thread count, the naive baseline, peers) share
// the budget by weight, time left over flowing to the runs after; inside a run the fused kernels
// get the first share and the unfused pipeline the rest. Before each measurement its cost is
// predicted — from the same layout at a smaller N scaled by kept blocks, else from the run's
// slowest rate so far, else from a deliberately pessimistic rate — and a measurement that would
// not fit is skipped, with larger N of the same kind, and the reason kept for the summary.
import type { Impl, Op } from './results.js';

export interface Sample {
  run: string;
  layout: string;
  impl: Impl;
  op: Op;
  N: number;
  /** Kept blocks × block² × D × B: what time should be proportional to. */
  work: number;
  ms: number;
}

export interface Prediction {
  ms: number;
  basis: string;
}

/** Pessimistic GFLOP/s (per thread on the CPU) for the first measurement of a run, before any rate is known. */
const PRIOR_RATE: Record<string, number> = { cpu: 2, webgpu: 20, js: 0.5, peer: 1 };

export class Predictor {
  private readonly samples: Sample[] = [];

  record(s: Sample): void {
    this.samples.push(s);
  }

  predict(run: string, kind: string, threads: number, layout: string, impl: Impl, op: Op, N: number, work: number): Prediction {
    const same = this.samples.filter((s) => s.run === run && s.impl === impl && s.op === op);
    const smaller = same.filter((s) => s.layout === layout && s.N < N).sort((a, b) => b.N - a.N)[0];
    if (smaller) return { ms: (smaller.ms * work) / smaller.work, basis: `${layout} at N=${smaller.N}` };
    if (same.length > 0) {
      const worst = Math.max(...same.map((s) => s.ms / s.work));
      return { ms: worst * work, basis: `the slowest rate so far on ${run}` };
    }
    // The other direction of the same layout and size, scaled by FLOPs (backward counts 2.5× the
    // forward's) and by half again: backward kernels run at a lower rate.
    const otherOp = this.samples.find((s) => s.run === run && s.layout === layout && s.impl === impl && s.op !== op && s.N === N);
    if (otherOp) {
      const ratio = op === 'backward' ? 2.5 * 1.5 : 1 / 2.5;
      return { ms: otherOp.ms * ratio, basis: `${layout} ${otherOp.op} at the same size` };
    }
    // Another run of the same layout and size, scaled by threads (a CPU run at 2 threads after 1).
    const other = this.samples.find((s) => s.layout === layout && s.impl === impl && s.op === op && s.N === N);
    if (other && kind === 'cpu') return { ms: other.ms, basis: `${other.run} at the same size` };
    const rate = (PRIOR_RATE[kind] ?? 1) * (kind === 'cpu' ? threads : 1) * (impl === 'unfused' ? 0.5 : 1);
    return { ms: (work * (op === 'forward' ? 4 : 10)) / (rate * 1e6), basis: `a pessimistic ${rate} GFLOP/s before any measurement` };
  }
}

export interface RepBudget {
  warmup: number;
  fixedReps: number | null;
  capMs: number;
  minReps: number;
  maxReps: number;
}

/** The time a measurement is expected to take, warm-up included. */
export function expectedCost(ms: number, r: RepBudget): number {
  const reps = r.fixedReps ?? (ms >= r.capMs ? 1 : Math.min(r.maxReps, Math.max(r.minReps, Math.ceil(r.capMs / ms))));
  return (r.warmup + reps) * ms;
}

/**
 * The adaptive cap per measurement, from the whole budget: 240 s gives 400 ms, so the default
 * matrix (a few hundred measurements) fits, and a fast call still gets 15 reps.
 */
export function capFor(budgetS: number): number {
  return Math.min(2000, Math.max(50, (budgetS * 5) / 3));
}

export const fmtS = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`);
