// Work is split by kept-block count, not by row count, so that uneven layouts (BigBird's global
// rows, causal triangles) still balance across threads.

/**
 * Splits items 0..n-1, whose cumulative weights are `prefix` (length n + 1, prefix[0] = 0), into
 * at most `parts` contiguous, non-empty ranges [begin, end) of about equal weight, or, given
 * `shares` (parts + 1 cumulative fractions from 0 to 1), range p weighing shares[p+1] − shares[p].
 */
export function partitionByWeight(prefix: ArrayLike<number>, parts: number, shares?: ArrayLike<number>): Array<[number, number]> {
  const n = prefix.length - 1;
  if (n <= 0) return [];
  const total = prefix[n] - prefix[0];
  const count = Math.max(1, Math.min(parts, n));
  const share = (p: number) => (shares && count === parts ? shares[p] : p / count);
  const ranges: Array<[number, number]> = [];
  let begin = 0;
  for (let p = 1; p <= count && begin < n; p++) {
    let end: number;
    if (p === count) {
      end = n;
    } else {
      const target = prefix[0] + total * share(p);
      end = begin + 1;
      // binary search the first index whose prefix reaches the target
      let lo = end, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (prefix[mid] < target) lo = mid + 1;
        else hi = mid;
      }
      end = Math.max(end, Math.min(lo, n - (count - p)));
    }
    ranges.push([begin, end]);
    begin = end;
  }
  return ranges;
}
