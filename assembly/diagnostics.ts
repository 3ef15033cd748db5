// Small kernels that test the worker pool (test/pool.test.ts, test/deno/pool.test.ts), not the
// maths: a fill whose tasks own disjoint ranges, a trap, and a busy loop to keep a worker busy.
// Like every kernel they see byte offsets and counts only.

/** Stores `value` into the `n` floats from byte offset `ptr` (the kernels' own fill). */
export { fillF32 as diagnosticFill } from './tiles';

/** Traps (`unreachable`): the pool must reject the call with an error that names this kernel. */
export function diagnosticTrap(): void {
  unreachable();
}

/**
 * Spins for about `iterations` dependent multiply-adds and returns the result, so the loop
 * cannot be optimised away: keeps a worker busy while a test does something else.
 */
export function diagnosticSpin(iterations: i32): f64 {
  let x: f64 = 1;
  for (let i = 0; i < iterations; i++) x = x * 0.999999 + 1e-9 * f64(i & 7);
  return x;
}
