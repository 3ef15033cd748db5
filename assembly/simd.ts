// Shared SIMD helpers for every kernel. ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so
// each of the two builds (asconfig.json targets "simd" and "relaxed") keeps one branch only.

/** a*b + c: one relaxed_madd where relaxed SIMD is on (it may or may not fuse), else mul + add. */
// @ts-ignore: decorator
@inline export function fma4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Horizontal sum of four lanes. */
// @ts-ignore: decorator
@inline export function hsum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Horizontal max of four lanes. */
// @ts-ignore: decorator
@inline export function hmax4(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/**
 * e^x in four lanes, for x ≤ 0 (softmax's x − max): Cephes' expf (x = n·ln 2 + r with n rounded to
 * nearest, ln 2 in two parts, degree-5 polynomial in r), about 2 ulp. n is rounded by adding
 * 1.5·2^23, which leaves n in the low mantissa bits, so 2^n is an integer subtract and shift (no
 * float → int conversion). Lanes below −87.3 (−∞ included) give exactly 0, not a denormal.
 */
// @ts-ignore: decorator
@inline export function expNeg4(x: v128): v128 {
  const lo = f32x4.splat(-87.33654); // e^lo = 2^-126, the least normal f32
  const magic = f32x4.splat(12582912.0); // 1.5·2^23
  const dead = f32x4.lt(x, lo);
  const xc = f32x4.pmax(x, lo);
  const fx = fma4(xc, f32x4.splat(1.44269504088896341), magic);
  const n = f32x4.sub(fx, magic);
  let r = fma4(n, f32x4.splat(-0.693359375), xc);
  r = fma4(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = fma4(p, r, f32x4.splat(1.3981999507e-3));
  p = fma4(p, r, f32x4.splat(8.3334519073e-3));
  p = fma4(p, r, f32x4.splat(4.1665795894e-2));
  p = fma4(p, r, f32x4.splat(1.6666665459e-1));
  p = fma4(p, r, f32x4.splat(5.0000001201e-1));
  p = fma4(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1)));
  // bits(fx) = 0x4B400000 + n, so bits(2^n) = (n + 127) << 23 = (bits(fx) − 0x4B3FFF81) << 23
  const pow2n = i32x4.shl(i32x4.sub(fx, i32x4.splat(0x4B3FFF81)), 23);
  return v128.andnot(f32x4.mul(p, pow2n), dead);
}

/**
 * 2^x in four lanes, for x ≤ 0 (the fused attention's exponentials; written by the attention
 * kernels' author, restored verbatim from the compiled module after an editing accident): x is
 * clamped at −127, n = round(x) lands in the low mantissa bits of x + 1.5·2^23 + 127, so that
 * shifting those bits by 23 gives 2^n (0 at n = −127, so −∞ gives exactly 0); 2^f for
 * f = x − n ∈ [−0.5, 0.5] is a degree-5 polynomial.
 */
// @ts-ignore: decorator
@inline export function exp2x4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(-127.0));
  const magic = f32x4.splat(12583039.0); // 1.5·2^23 + 127
  const fx = f32x4.add(xc, magic);
  const f = f32x4.sub(xc, f32x4.sub(fx, magic));
  let p = f32x4.splat(0.0013266970636323094);
  p = fma4(p, f, f32x4.splat(0.009675459936261177));
  p = fma4(p, f, f32x4.splat(0.05550742521882057));
  p = fma4(p, f, f32x4.splat(0.24022121727466583));
  p = fma4(p, f, f32x4.splat(0.6931469440460205));
  p = fma4(p, f, f32x4.splat(1.0000001192092896));
  return f32x4.mul(p, i32x4.shl(fx, 23));
}
