// The seeded generator of BlockSparseLinear's pattern and initial values: sfc32 (Chris Doty-Humphrey's
// Small Fast Counting generator, from PractRand), seeded through splitmix32. It is small, passes
// PractRand, and fills a large weight many times faster than a Mersenne Twister in JavaScript
// (bench/results/README.md). Same seed, same draws, in every runtime.

/** splitmix32: spreads one 32-bit word over a stream of well-mixed words (used only for seeding). */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  /** Any safe integer or bigint; both are read as 64-bit two's complement, so 5 and 5n agree. */
  constructor(seed: number | bigint) {
    const n = BigInt.asUintN(64, BigInt(seed));
    const lo = Number(n & 0xffffffffn);
    const hi = Number(n >> 32n);
    const mix = splitmix32(lo);
    this.a = mix();
    this.b = (mix() ^ hi) >>> 0;
    this.c = mix();
    for (let i = 0; i < 12; i++) this.nextUint32(); // the customary warm-up
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /**
   * Fills `out` with uniform values in [lo, hi): lo + (hi − lo)·u for u = nextUint32() / 2³², the
   * same draws as calling random() per element. The state lives in locals while it runs: V8 would
   * box every uint32 above 2³⁰ stored back into a field, which costs 10× the arithmetic.
   */
  fillUniform(out: Float32Array, lo: number, hi: number): void {
    let { a, b, c, d } = this;
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) {
      const t = (((a + b) >>> 0) + d) >>> 0;
      d = (d + 1) >>> 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) >>> 0;
      c = ((c << 21) | (c >>> 11)) >>> 0;
      c = (c + t) >>> 0;
      out[i] = lo + span * (t / 4294967296);
    }
    this.a = a >>> 0;
    this.b = b >>> 0;
    this.c = c;
    this.d = d;
  }

  /** Uniform in [0, 1), 32 bits. */
  random(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer in [0, n) for 0 < n ≤ 2³² by multiply-shift (bias below n / 2³², immaterial here). */
  below(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** k distinct items of `items`, by a partial Fisher–Yates shuffle (items is reordered). */
  sample<T extends number[] | Int32Array>(items: T, k: number): T {
    const n = items.length;
    for (let i = 0; i < k; i++) {
      const j = i + this.below(n - i);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items.slice(0, k) as T;
  }
}
