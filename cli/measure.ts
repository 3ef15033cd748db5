// One measurement: warm-up, then timed repetitions until the time cap, reporting every sample.
// The median is the figure (robust to a GC pause or a scheduler hiccup); min is kept beside it.
// Time comes from a Clock so that --simulate can run the whole pipeline on a virtual one.

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
}

export const wallClock: Clock = { now: () => performance.now() };

export interface RepPolicy {
  /** Untimed runs first (JIT, arena growth, worker spin-up, pipeline compilation). */
  warmup: number;
  /** Exactly this many timed runs (--reps), or null for adaptive. */
  fixedReps: number | null;
  /** Adaptive: stop once the timed runs add up to this, with at least minReps… */
  capMs: number;
  minReps: number;
  /** …and never more than maxReps. */
  maxReps: number;
}

export const DEFAULT_REPS: Omit<RepPolicy, 'warmup' | 'capMs'> = { fixedReps: null, minReps: 3, maxReps: 15 };

export interface Timed<T> {
  samples: number[];
  warmup: number;
  /** What the last run returned (outputs compared across implementations). */
  last: T;
}

/**
 * Runs `fn` per the policy. Adaptive: repeats until the samples add up to capMs and there are at
 * least minReps, but stops early (keeping at least one sample) when another run would pass twice
 * the cap or the deadline, so one slow size cannot eat the budget.
 */
export async function measure<T>(fn: () => Promise<T>, clock: Clock, policy: RepPolicy, deadline = Infinity): Promise<Timed<T>> {
  let last!: T;
  for (let i = 0; i < policy.warmup; i++) last = await fn();
  const samples: number[] = [];
  let sum = 0;
  for (;;) {
    const t0 = clock.now();
    last = await fn();
    const t = clock.now() - t0;
    samples.push(t);
    sum += t;
    const n = samples.length;
    if (policy.fixedReps !== null) {
      if (n >= policy.fixedReps) break;
      continue;
    }
    if (n >= policy.maxReps) break;
    if (sum >= policy.capMs && n >= policy.minReps) break;
    const typical = sum / n;
    if (sum + typical > 2 * policy.capMs || clock.now() + typical > deadline) break;
  }
  return { samples, warmup: policy.warmup, last };
}
