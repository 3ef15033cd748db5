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
