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

/**
 * What `causal` does to the tile of `rows` queries at absolute positions p0 … p0 + rows − 1
 * against the `cols` keys col0 … col0 + cols − 1: for a query offset the layout's causalKind
 * (measured for offset 0) does not hold, so the kernels measure each tile from its positions.
 * With offset 0 and whole blocks this is causalKind: c < r full, c = r partial, c > r empty.
 */
// @ts-ignore: decorator
@inline export function tileKind(causal: bool, p0: i32, rows: i32, col0: i32, cols: i32): u8 {
  if (!causal) return FULL;
  if (col0 > p0 + rows - 1) return EMPTY;
  return col0 + cols - 1 <= p0 ? FULL : PARTIAL;
}

/** First query row of block row r for a batch row at query offset `off` (clamped to 0). */
// @ts-ignore: decorator
@inline export function itemRow0(r: i32, block: i32, off: i32): i32 {
  return max(0, r * block - off);
}

/** One past the last query row of block row r (clamped to N): rows itemRow0 … itemRowEnd − 1. */
// @ts-ignore: decorator
@inline export function itemRowEnd(r: i32, block: i32, off: i32, N: i32): i32 {
  return min(N, (r + 1) * block - off);
}
