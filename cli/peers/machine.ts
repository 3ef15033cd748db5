// How busy the machine is, for benchmarks that share it with other work (a 2-core developer box
// running builds and tests beside us gives timings off by 2x). Node only.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { median } from '../stats.js';

function totals() {
  let idle = 0, all = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    idle += t.idle;
    all += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { idle, all };
}

/** Fraction of all cores busy over the next `ms` milliseconds (0..1). */
export async function cpuBusy(ms = 1000): Promise<number> {
  const a = totals();
  await new Promise((r) => setTimeout(r, ms));
  const b = totals();
  const all = b.all - a.all;
  return all > 0 ? 1 - (b.idle - a.idle) / all : 0;
}

/**
 * Waits, up to maxWaitS seconds, until other work leaves the cores nearly idle (busy below
 * `busyBelow` for two consecutive seconds). Returns how long it waited and the last reading.
 */
export async function waitForQuiet(maxWaitS: number, busyBelow = 0.15): Promise<{ waitedS: number; busy: number; quiet: boolean }> {
  const t0 = Date.now();
  let busy = await cpuBusy();
  let calm = busy < busyBelow ? 1 : 0;
  while (calm < 2 && (Date.now() - t0) / 1000 < maxWaitS) {
    busy = await cpuBusy();
    calm = busy < busyBelow ? calm + 1 : 0;
  }
  return { waitedS: (Date.now() - t0) / 1000, busy, quiet: calm >= 2 };
}

function busyMs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

/**
 * Measures the CPU time other processes take while `fn` runs: all cores' busy time (from the
 * kernel's counters, 10 ms granularity) less this process's own (its worker threads included).
 * `foreign` is in cores: 0.5 means half a core was busy with other work on average; `own` is this
 * process's CPU time in cores (2 means two threads busy all along).
 */
export async function withForeignLoad<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; foreign: number; own: number }> {
  const b0 = busyMs();
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const u = process.cpuUsage(u0);
  const own = (u.user + u.system) / 1000;
  const foreign = Math.max(0, busyMs() - b0 - own) / Math.max(ms, 1);
  return { value, ms, foreign, own: own / Math.max(ms, 1) };
}

export interface CleanTiming {
  /** Median of the clean samples (or of all, when too few were clean). */
  median: number;
  samples: number[];
  /** Other processes' load during each sample, in cores. */
  foreign: number[];
  /** This process's CPU time during each sample, in cores (how parallel the run was). */
  own: number[];
  clean: number;
  /** False when fewer than `reps` samples ran with the machine to ourselves. */
  enoughClean: boolean;
}

/**
 * Warm-up, then timed runs until `reps` of them ran while other processes used less than
 * `maxForeign` cores (at most `maxTries` runs, or `capMs` of timed runs, whichever comes first).
 */
export async function timeClean(run: () => Promise<unknown>, o: { warmup: number; reps: number; maxTries?: number; capMs?: number; maxForeign?: number }): Promise<CleanTiming> {
  for (let i = 0; i < o.warmup; i++) await run();
  const maxTries = o.maxTries ?? o.reps * 4;
  const maxForeign = o.maxForeign ?? 0.15;
  const capMs = o.capMs ?? Infinity;
  const samples: number[] = [], foreign: number[] = [], own: number[] = [];
  let clean = 0, spent = 0;
  while (clean < o.reps && samples.length < maxTries && (spent < capMs || samples.length === 0)) {
    const r = await withForeignLoad(run);
    samples.push(r.ms);
    foreign.push(r.foreign);
    own.push(r.own);
    spent += r.ms;
    if (r.foreign < maxForeign) clean++;
  }
  const cleanSamples = samples.filter((_, i) => foreign[i] < maxForeign);
  const use = cleanSamples.length >= Math.min(o.reps, 3) ? cleanSamples : samples;
  return { median: median(use), samples, foreign, own, clean, enoughClean: clean >= o.reps };
}
