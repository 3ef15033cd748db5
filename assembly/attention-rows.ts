// The end of a row accumulator (online softmax, base 2): the output rows divided by their sums and
// the rows' log-sum-exp, as the forward and decode kernels (attention-forward.ts,
// attention-decode.ts) both finish.

/**
 * ln x for a normal x ≥ 1 (the running sum: its largest term is 2⁰), in f64: x = 2^e·m with
 * m ∈ [√½, √2), ln m = 2·atanh(t), t = (m − 1)/(m + 1), |t| ≤ 0.172, six odd terms (error
 * < 1e-10). The standard library's log would bring lookup tables, static data this module
 * must not have (assembly/index.ts).
 */
function lnAtLeastOne(x: f32): f64 {
  const bits = reinterpret<i32>(x);
  let e = (bits >> 23) - 127;
  let m = <f64>reinterpret<f32>((bits & 0x7fffff) | 0x3f800000);
  if (m > Math.SQRT2) {
    m *= 0.5;
    e++;
  }
  const t = (m - 1) / (m + 1);
  const t2 = t * t;
  const atanh = t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))));
  return <f64>e * Math.LN2 + 2 * atanh;
}

/**
 * out = o / l and lse = ln2·m + ln l (natural log) for `rows` query rows of an accumulator
 * (o [rows][D], m, l [rows]); zeros and −∞ where l = 0 (nothing kept). `lse` 0: not written.
 */
export function writeRows(o: usize, m: usize, l: usize, rows: i32, D: i32, out: usize, lse: usize): void {
  const dBytes = <usize>D << 2;
  for (let i = 0; i < rows; i++) {
    const li = load<f32>(l + (<usize>i << 2));
    const inv: f32 = li > 0 ? <f32>1 / li : 0;
    if (lse != 0) {
      const lsum: f32 = li > 0 ? <f32>(<f64>load<f32>(m + (<usize>i << 2)) * Math.LN2 + lnAtLeastOne(li)) : -Infinity;
      store<f32>(lse + (<usize>i << 2), lsum);
    }
    const iv = f32x4.splat(inv);
    const src = o + <usize>i * dBytes;
    const dst = out + <usize>i * dBytes;
    let d = 0;
    for (; d + 4 <= D; d += 4) v128.store(dst + (<usize>d << 2), f32x4.mul(v128.load(src + (<usize>d << 2)), iv));
    for (; d < D; d++) store<f32>(dst + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) * inv);
  }
}
