// The one seeded generator of the app, the benchmarks and the tests: mulberry32 (a 32-bit state,
// one multiply-xorshift round per draw). Tests pin values drawn from it, so its sequence must not
// change; everything random here (tensors, layouts, masks) is built on an Rng.

/** Uniform in [0, 1). */
export type Rng = () => number;

/** mulberry32: a small, fast, seeded 32-bit PRNG. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` values uniform in [-scale, scale), rounded to f32: draws from mulberry32(seed), or from `rng` when given one. */
export function uniformFloats(length: number, seed: number | Rng, scale = 1): Float32Array {
  const rng = typeof seed === 'number' ? mulberry32(seed) : seed;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (rng() * 2 - 1) * scale;
  return out;
}
