// IEEE 754 half floats (binary16) as bits in a Uint16Array, to and from Float32Array: the
// conversions at the edges of float16 storage (API.md "Float16 storage"). Bit manipulation on a
// Uint32Array view, no tables, and no use of the runtime's Float16Array / Math.f16round: the same
// bits in every runtime, NaN payloads included.
//
// NaN rule: the sign and the top 10 bits of the payload are kept (a float32 NaN whose kept payload
// bits are all 0 gets the quiet bit, so that it stays a NaN); fromFloat16 keeps the whole payload.
// So every half value, NaNs included, round-trips through float32 exactly.
import { errors } from './errors.js';

/** The half-float bits nearest to the float32 with bits `x` (round to nearest, ties to even). */
function halfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00; // ±Infinity
    const payload = (abs >>> 13) & 0x3ff;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  // 65520 (halfway between 65504, the largest half, and 2^16) and above round to Infinity
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // a normal half (2^-14 and above): rebias the exponent (127 → 15), round off 13 mantissa bits;
    // a carry out of the mantissa steps the exponent, as it should
    const m = abs - 0x38000000;
    return sign | ((m + 0x0fff + ((m >>> 13) & 1)) >>> 13);
  }
  // 2^-25 and below round to ±0 (2^-25 itself is a tie, to the even 0)
  if (abs <= 0x33000000) return sign;
  // a subnormal half: the 24-bit significand in units of 2^-24, rounded (1024 is the smallest normal)
  const shift = 126 - (abs >>> 23);
  const significand = (abs & 0x7fffff) | 0x800000;
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  let r = significand >>> shift;
  if (rest > halfway || (rest === halfway && (r & 1) === 1)) r++;
  return sign | r;
}

/** Half floats nearest to `values` (round to nearest, ties to even; overflow to ±Infinity). */
export function toFloat16(values: Float32Array): Uint16Array {
  if (!(values instanceof Float32Array)) throw errors.notArrayOf('toFloat16: values', 'a Float32Array', values);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBits(bits[i]);
  return out;
}

/** The float32 values of half-float bits (exact: every half float is a float32). */
export function fromFloat16(bits: Uint16Array): Float32Array {
  if (!(bits instanceof Uint16Array)) throw errors.notArrayOf('fromFloat16: bits', 'a Uint16Array of half-float bits', bits);
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const e = h & 0x7c00;
    if (e === 0x7c00) {
      outBits[i] = ((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13); // ±Infinity, NaN with its payload
    } else if (e !== 0) {
      outBits[i] = ((h & 0x8000) << 16) | (((h & 0x7fff) + 0x1c000) << 13); // exponent 15 → 127
    } else {
      const m = (h & 0x3ff) * 5.960464477539063e-8; // subnormal or zero: m · 2^-24, exact
      out[i] = h & 0x8000 ? -m : m;
    }
  }
  return out;
}
