// What causal does to a kept block, per layout entry (twin: CausalKind in src/layouts/compile.ts):
// a block on the diagonal is cut at j > i, one above it is dropped.

// @ts-ignore: decorator
@inline export const FULL: u8 = 0;
// @ts-ignore: decorator
@inline export const PARTIAL: u8 = 1;
// @ts-ignore: decorator
@inline export const EMPTY: u8 = 2;

/** Entry e's kind when the op is causal; FULL when it is not. */
// @ts-ignore: decorator
@inline export function entryKind(causalKind: usize, causal: bool, e: i32): u8 {
  return causal ? load<u8>(causalKind + <usize>e) : FULL;
}
