// Statistics of timing samples, one meaning per name.

/** The median: the middle sample, or the mean of the two middle ones when the count is even. NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The sample at rank ⌊f·n⌋ of the sorted samples (0 ≤ f < 1), a sample itself, never interpolated: for quartiles. */
export function quantileSample(xs: readonly number[], f: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
}

/** Median wall time (ms) of `reps` calls of f after one warm-up call. */
export async function medianWallMs(f: () => Promise<unknown>, reps: number): Promise<number> {
  await f();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Wall and kernel time of a call (medians over calls). */
export interface CallTimes {
  wallMs: number;
  /** engine.lastTimings.kernelMs after each call; null where the backend measures none. */
  kernelMs: number | null;
  /** The same per kernel name (a name's kernels in one call summed), where every call listed its kernels. */
  kernels: Record<string, number> | null;
}

/** Per name of the first record, the median of its values over the records (0 where one lacks it); null for none. */
export function medianByName(records: readonly Record<string, number>[]): Record<string, number> | null {
  const names = records.length > 0 ? Object.keys(records[0]!) : [];
  return names.length ? Object.fromEntries(names.map((n) => [n, median(records.map((k) => k[n] ?? 0))])) : null;
}

/**
 * Median wall and kernel time of `reps` calls of f after one warm-up call. With `warmMs`, each timed
 * call follows unmeasured calls of f for at least that long: a GPU left idle by host work between
 * calls runs the next one at lower clocks (bench/gpu/kernel-timing.ts).
 */
export async function medianCallTimes(
  engine: { readonly lastTimings: { readonly kernelMs?: number; readonly kernels?: readonly { kernel: string; ms: number }[] } | null },
  f: () => Promise<unknown>,
  reps: number,
  warmMs = 0,
): Promise<CallTimes> {
  await f();
  const wall: number[] = [];
  const kernel: number[] = [];
  const perName: Record<string, number>[] = [];
  for (let i = 0; i < reps; i++) {
    for (const t0 = performance.now(); performance.now() - t0 < warmMs; ) await f();
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
    const t = engine.lastTimings;
    if (t?.kernelMs !== undefined) kernel.push(t.kernelMs);
    if (t?.kernels) {
      const named: Record<string, number> = {};
      for (const { kernel: name, ms } of t.kernels) named[name] = (named[name] ?? 0) + ms;
      perName.push(named);
    }
  }
  const kernels = perName.length === reps ? medianByName(perName) : null;
  return { wallMs: median(wall), kernelMs: kernel.length === reps ? median(kernel) : null, kernels };
}

/** What a loop keeps on the device (outputs, selections) until the work that uses it is submitted. */
export interface LoopHeld {
  destroy?: () => void;
}

/**
 * ms per iteration of `body` as an app's loop runs it on an engine with timings off (a keepOnDevice
 * call returns once its work is submitted): `iterations` back to back, then `fence`, which must
 * resolve once everything submitted before it has run (a read of a tiny DeviceTensor: its copy
 * runs after them, in queue order; reading a large output instead would time the transfer); the
 * mean of two such runs after a warm-up run of 3. `body` may push what else it keeps into `keep`.
 * As an app would, each iteration's output and keeps are destroyed once the next iteration has
 * been submitted (the engine frees or reuses a buffer only after the work submitted before, in
 * queue order); the last after the fence.
 */
export async function loopIterationMs(iterations: number, body: (keep: LoopHeld[]) => Promise<LoopHeld>, fence: () => Promise<unknown>): Promise<number> {
  const run = async (n: number) => {
    let previous: LoopHeld[] = [];
    for (let i = 0; i < n; i++) {
      const keep: LoopHeld[] = [];
      keep.push(await body(keep));
      for (const h of previous) h.destroy?.();
      previous = keep;
    }
    await fence();
    for (const h of previous) h.destroy?.();
  };
  await run(3);
  let total = 0;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await run(iterations);
    total += (performance.now() - t0) / iterations;
  }
  return total / 2;
}

/**
 * A fence for loopIterationMs on `engine`: reads a 16-byte DeviceTensor uploaded for it, which waits
 * for the work submitted before it (in queue order) without timing a large output's transfer.
 */
export async function deviceFence(engine: { upload(t: { data: Float32Array; shape: number[] }): Promise<{ read(): Promise<unknown> }> }): Promise<() => Promise<unknown>> {
  const marker = await engine.upload({ data: new Float32Array(4), shape: [1, 1, 1, 4] });
  return () => marker.read();
}

/**
 * loopIterationMs of attention over one selection made beforehand (`sparseMs`) and of a fresh
 * selection followed by attention over it (`bothMs`), alternating twice so that both see the same
 * clocks: means of the two. `select` makes a selection; `attend` runs attention over one.
 */
export async function selectionLoopMs<L extends LoopHeld>(
  iterations: number,
  select: () => Promise<L>,
  attend: (layout: L) => Promise<LoopHeld>,
  fence: () => Promise<unknown>,
): Promise<{ sparseMs: number; bothMs: number }> {
  const held = await select();
  const both = async (keep: LoopHeld[]) => {
    const selected = await select();
    keep.push(selected);
    return attend(selected);
  };
  let sparseMs = 0, bothMs = 0;
  try {
    for (let i = 0; i < 2; i++) {
      sparseMs += (await loopIterationMs(iterations, () => attend(held), fence)) / 2;
      bothMs += (await loopIterationMs(iterations, both, fence)) / 2;
    }
  } finally {
    held.destroy?.();
  }
  return { sparseMs, bothMs };
}
