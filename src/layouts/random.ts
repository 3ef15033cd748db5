// A faithful port of CPython's `random` module (3.11, Modules/_randommodule.c and Lib/random.py),
// just the parts DeepSpeed's sparsity configs reach: `random.seed(int)`, `getrandbits`, `_randbelow`
// and `random.sample(range(n), k)`. DeepSpeed draws its random blocks from Python's global generator,
// so `random.seed(S)` followed by `make_layout(n)` there equals `seed: S` here, bit for bit.
// `random()` is included because it is the quickest cross-check against a Python prompt.

import { errors } from '../errors.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** A seed as `random.seed` takes it: any integer (its absolute value is used, as CPython does). */
export type PythonSeed = number | bigint;

/** Python's `random.Random`: MT19937 seeded and consumed exactly as CPython does it. */
export class PythonRandom {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  constructor(seed: PythonSeed = 0) {
    this.seed(seed);
  }

  /** `random.seed(a)` for an integer `a`: init_by_array over the 32-bit words of |a|, least significant first. */
  seed(a: PythonSeed): void {
    let n: bigint;
    if (typeof a === 'bigint') n = a;
    else if (typeof a === 'number' && Number.isSafeInteger(a)) n = BigInt(a);
    else throw errors.notSeed('seed', a);
    if (n < 0n) n = -n;
    const key: number[] = [];
    do {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    } while (n > 0n);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0; // non linear
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0; // non linear
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000; // MSB is 1, assuring a non-zero initial array
    this.index = N;
  }

  /** The next 32-bit output of MT19937 (CPython's genrand_uint32). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      const y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.getrandbits(k)` for 0 <= k <= 53 (exact as a number). Words fill from the least significant end. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 53) {
      throw new RangeError(`getrandbits: k must be an integer in [0, 53], got ${k} (use getrandbitsBigInt for more)`);
    }
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    const low = this.nextUint32();
    const high = this.nextUint32() >>> (64 - k);
    return high * 0x100000000 + low;
  }

  /** `random.getrandbits(k)` for any k >= 0, as a bigint. */
  getrandbitsBigInt(k: number): bigint {
    if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`getrandbits: k must be a non-negative integer, got ${k}`);
    let result = 0n;
    let shift = 0n;
    for (let left = k; left > 0; left -= 32, shift += 32n) {
      let r = this.nextUint32();
      if (left < 32) r >>>= 32 - left; // keep the most significant bits, as CPython does
      result |= BigInt(r) << shift;
    }
    return result;
  }

  /** `random.random()`: 53 random bits as a float in [0, 1). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `Random._randbelow_with_getrandbits(n)`: rejection sampling on n.bit_length() bits; 0 < n <= 2**53. */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`randbelow: n must be a positive safe integer, got ${n}`);
    const k = bitLength(n); // not (n - 1): n can be 1, and CPython then still draws one word per try
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /**
   * `random.sample(population, k)`, where a number n stands for `range(n)`. Same algorithm and draws
   * as CPython: a pool (partial Fisher-Yates) when n is at most the size of a k-element set,
   * otherwise rejection against a set of chosen indices. Results are in selection order.
   */
  sample<T = number>(population: number | readonly T[], k: number): T[] {
    const n = typeof population === 'number' ? population : population.length;
    const at = typeof population === 'number' ? (i: number) => i as T : (i: number) => population[i];
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`sample: population size must be a non-negative integer, got ${n}`);
    if (!Number.isInteger(k) || k < 0 || k > n) {
      // CPython: ValueError("Sample larger than population or is negative")
      throw new RangeError(`sample: k (${k}) must be an integer in [0, ${n}] (sample larger than population or negative)`);
    }
    const result: T[] = new Array(k);
    let setsize = 21; // size of a small set minus size of an empty list
    if (k > 5) setsize += 4 ** ceilLog4(k * 3); // table size for big sets
    if (n <= setsize) {
      // Invariant: the non-selected are at pool[0 : n - i]
      const pool = new Array<number>(n);
      for (let i = 0; i < n; i++) pool[i] = i;
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = at(pool[j]);
        pool[j] = pool[n - i - 1]; // move a non-selected item into the vacancy
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = at(j);
      }
    }
    return result;
  }
}

/** `int.bit_length()` for a positive safe integer. */
function bitLength(n: number): number {
  let bits = 0;
  while (n >= 0x100000000) {
    n = Math.floor(n / 0x100000000);
    bits += 32;
  }
  return bits + 32 - Math.clz32(n);
}

/**
 * `math.ceil(math.log(x, 4))` for an integer x >= 18 that is 3k: the smallest m with 4**m >= x.
 * Exact integer arithmetic instead of floating logs; the two agree because 3k is never a power
 * of 4, so log4(3k) is never within rounding error of an integer for any reachable k.
 */
function ceilLog4(x: number): number {
  let m = 0;
  for (let p = 1; p < x; p *= 4) m++;
  return m;
}
