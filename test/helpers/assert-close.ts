// Elementwise closeness, |actual − expected| ≤ atol + rtol·|expected|, with a useful failure message; and bitwise equality.
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** API.md: every value within 5e-5 + 5e-4·|ref| of the float64 reference on the CPU. */
export const CPU_TOL: Tolerance = Object.freeze({ atol: 5e-5, rtol: 5e-4 });
/** API.md: 1e-4 + 1e-3·|ref| on WebGPU. */
export const GPU_TOL: Tolerance = Object.freeze({ atol: 1e-4, rtol: 1e-3 });

export interface CloseReport {
  ok: boolean;
  /** Number of elements out of tolerance (non-finite mismatches included). */
  violations: number;
  /** First offending index, or -1. */
  firstIndex: number;
  /** Largest |actual − expected| (Infinity for a non-finite mismatch, 0 when empty). */
  maxAbsError: number;
  maxAbsErrorIndex: number;
}

/** Compares without throwing. A non-finite value passes only where the other array holds the same. */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): CloseReport {
  const { atol, rtol } = tol;
  const report: CloseReport = { ok: true, violations: 0, firstIndex: -1, maxAbsError: 0, maxAbsErrorIndex: -1 };
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    let err: number;
    let bad: boolean;
    if (Number.isFinite(a) && Number.isFinite(e)) {
      err = Math.abs(a - e);
      bad = !(err <= atol + rtol * Math.abs(e));
    } else {
      bad = !Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e));
      err = bad ? Infinity : 0;
    }
    if (err > report.maxAbsError || (report.maxAbsErrorIndex < 0 && bad)) {
      report.maxAbsError = err;
      report.maxAbsErrorIndex = i;
    }
    if (bad) {
      report.violations++;
      if (report.firstIndex < 0) report.firstIndex = i;
    }
  }
  if (actual.length !== expected.length) report.violations++;
  report.ok = report.violations === 0;
  return report;
}

/**
 * Throws an Error (failing the uvu test) unless every element is close. Default tolerance CPU_TOL.
 * The message names the label, the first offending index and values, the max abs error and the count.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: Partial<Tolerance> & { label?: string } = {},
): void {
  const tol = { atol: opts.atol ?? CPU_TOL.atol, rtol: opts.rtol ?? CPU_TOL.rtol };
  const label = opts.label ?? 'assertClose';
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  }
  const r = compareClose(actual, expected, tol);
  if (r.ok) return;
  const i = r.firstIndex;
  const j = r.maxAbsErrorIndex;
  const err = new Error(
    `${label}: ${r.violations} of ${actual.length} values outside atol=${tol.atol} + rtol=${tol.rtol}·|expected|; ` +
      `first at index ${i}: actual ${actual[i]}, expected ${expected[i]} (abs error ${Math.abs(actual[i] - expected[i])}); ` +
      `max abs error ${r.maxAbsError} at index ${j} (actual ${actual[j]}, expected ${expected[j]})`,
  );
  err.name = 'AssertionError';
  throw err;
}

/** Bitwise equality of two float32 results (the CPU's determinism across threads, parts and schedules). */
export function assertSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${label}: differs at ${i} (${actual[i]} vs ${expected[i]})`);
  }
}
