// How many tasks an op splits its work into. Normally ctx.threads; tests force other counts to
// check that results do not depend on the split (docs/API.md: bitwise identical for every thread count).
import type { CpuContext } from './context.js';
import { partitionByWeight } from './partition.js';

let forced: number | undefined;

/** Internal, for tests: split every CPU op into `count` tasks (undefined: back to ctx.threads). */
export function forceTaskCount(count: number | undefined): void {
  if (count !== undefined && !(Number.isInteger(count) && count >= 1)) {
    throw new RangeError(`task count must be a positive integer, got ${count}`);
  }
  forced = count;
}

export function taskCount(ctx: CpuContext): number {
  return forced ?? ctx.threads;
}

/** Internal knobs (bench/cpu-timeline.ts sweeps them): tasks per thread at most, and the least
 * work (flops) worth a task, about a millisecond of one thread's kernels (bench/results/README.md). */
export const taskTuning = {
  tasksPerThread: 4,
  minTaskFlops: 32e6,
  /** Work below this (about 0.1 ms of one thread) runs on the calling thread: a pool round trip costs more. */
  inlineFlops: 3e6,
  /** The least memory (bytes read) worth a task for an op bound by its reads (a decode step over a few
   * selected blocks): about 0.1 ms of one core's reads, near a pool round trip (the rates of 4 MiB and
   * 1 MiB on 16 and 2 cores: bench/results/issue-17-h200/2026-12-03b). */
  minTaskBytes: 1 << 20,
  /** About how long inlineFlops and minTaskBytes take one core (ms): streamingTaskCount's estimate of a call's work. */
  unitMs: 0.1,
};

/** Whether an op of `flops` is best run as one task on the calling thread (never when a test forces a split). */
export function runsInline(flops: number): boolean {
  return forced === undefined && flops < taskTuning.inlineFlops;
}

/**
 * Tasks for an op of `flops` whose tasks a pool hands out as workers free up: up to 4 per thread,
 * each worth far more than a pool round trip (bench/results/README.md). Finer tasks start while the calling
 * thread is still copying the inputs in, and a slower core (a busy sibling, an efficiency core)
 * takes fewer of them instead of holding up the end. Exactly ctx.threads when forced or inline.
 */
export function dynamicTaskCount(ctx: CpuContext, flops: number): number {
  const threads = taskCount(ctx);
  if (forced !== undefined || threads === 1) return threads;
  return Math.max(threads, Math.min(threads * taskTuning.tasksPerThread, Math.floor(flops / taskTuning.minTaskFlops)));
}

/**
 * Tasks for an op that computes `flops` and reads `bytes` it cannot share between tasks (a decode
 * step's K/V blocks, a selection's key summaries): by its flops as dynamicTaskCount splits them,
 * but no task under a unit's worth (inlineFlops: unitMs of one core), and by its reads one task per
 * minTaskBytes; up to tasksPerThread per thread. Split only where that saves more than two of the
 * pool's round trips (ctx.roundTrips): the call's work, unitMs a unit, less its share on as many
 * threads as tasks. `inline` when that is one task: the calling thread runs it. The forced count,
 * never inline, when a test forces one.
 */
export function streamingTaskCount(ctx: CpuContext, flops: number, bytes: number): { tasks: number; inline: boolean } {
  if (forced !== undefined) return { tasks: forced, inline: false };
  const threads = ctx.threads;
  const byFlops = Math.max(Math.min(threads, Math.floor(flops / taskTuning.inlineFlops)), Math.floor(flops / taskTuning.minTaskFlops));
  const byBytes = Math.floor(bytes / taskTuning.minTaskBytes);
  let tasks = Math.max(1, Math.min(threads * taskTuning.tasksPerThread, Math.max(byFlops, byBytes)));
  const workMs = Math.max(flops / taskTuning.inlineFlops, bytes / taskTuning.minTaskBytes) * taskTuning.unitMs;
  const savedMs = workMs * (1 - 1 / Math.min(tasks, threads));
  // now and then, work the round trip kept whole is split anyway: its call measures the round trip again
  const trips = ctx.roundTrips;
  if (tasks > 1 && trips && savedMs <= 2 * trips.ms && !trips.sample()) tasks = 1;
  return { tasks, inline: tasks === 1 };
}

/**
 * Cumulative shares (parts + 1 fractions from 0 to 1) for `parts` tasks on `threads` workers that
 * take them in order: guided self-scheduling, task i weighing ⌈(parts − i) / threads⌉, so with
 * 4 tasks per thread the first round's tasks weigh 4 and the last round's 1. Workers run at
 * different speeds (a busy sibling core, a noisy neighbour: equal tasks took almost twice as long
 * on some cores, bench/results/h100/README.md); small tasks last keep the end even. Equal shares when
 * parts ≤ threads. Results do not depend on it: each item is computed the same wherever it runs.
 * `rampUp`: the first round weighs 1 too (1, 3, 2, 1), for inputs still being copied in head by
 * head: a first task of weight 4 spans more heads and would wait for all of them (a second worker
 * then sat idle at the start of the call: bench/results/README.md).
 */
export function guidedShares(parts: number, threads: number, rampUp = false): Float64Array {
  const shares = new Float64Array(parts + 1);
  const weight = (i: number) => (parts <= threads || (rampUp && i < threads) ? 1 : Math.ceil((parts - i) / threads));
  for (let i = 0; i < parts; i++) shares[i + 1] = shares[i] + weight(i);
  for (let i = 1; i <= parts; i++) shares[i] /= shares[parts];
  return shares;
}

/** Splits items 0..n-1 into at most `parts` contiguous ranges of about equal count. */
export function partitionEvenly(n: number, parts: number): Array<[number, number]> {
  const count = Math.max(0, Math.min(parts, n));
  const ranges: Array<[number, number]> = [];
  for (let p = 0; p < count; p++) ranges.push([Math.floor((n * p) / count), Math.floor((n * (p + 1)) / count)]);
  return ranges;
}

/**
 * Splits the items (batch-head bh, row) of a row table, bh < BH, row < rows, by weight: each row
 * weighs `fixed + perBlock · (its kept blocks)`. `blocks` holds those counts over H·rows
 * (a compiled layout's rowBlocks or colBlocks).
 */
export function partitionRows(
  blocks: Int32Array, H: number, BH: number, rows: number, parts: number, perBlock: number, fixed: number,
): Array<[number, number]> {
  const n = BH * rows;
  const prefix = new Float64Array(n + 1);
  for (let t = 0; t < n; t++) {
    const bh = Math.floor(t / rows);
    const slot = (bh % H) * rows + (t - bh * rows);
    prefix[t + 1] = prefix[t] + fixed + perBlock * blocks[slot];
  }
  return partitionByWeight(prefix, parts);
}
