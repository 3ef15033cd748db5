// Argument checks for the layout builders, run before any DeepSpeed-specific check. Each error
// names the argument and the value it got: TypeError for the wrong kind of value, RangeError for a
// value of the right kind out of range. Messages live in ../errors.ts.
import { errors } from '../errors.js';

/** DeepSpeed's `attention` argument. */
export type Attention = 'bidirectional' | 'unidirectional';

/** An integer number (not NaN, not a float). */
export function int(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw errors.notInt(name, value);
  return value;
}

/** A float or a non-number is the wrong kind (TypeError); zero or less, out of range (RangeError). */
export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw errors.positiveInt(name, value, true);
  if (value <= 0) throw errors.positiveInt(name, value);
  return value;
}

/**
 * The largest block side: a task's score tile is block² f32, which 32-bit Wasm memory (4 GiB) cannot
 * hold past 2^15, and the kernels' positions and byte offsets are 32-bit (a block of 2^31 wrapped).
 */
export const MAX_BLOCK = 32768;

/** A layout's or a selection's block side: a positive integer of at most MAX_BLOCK. */
export function blockSide(name: string, value: unknown): number {
  const block = positiveInt(name, value);
  if (block > MAX_BLOCK) throw errors.blockTooLarge(name, block, MAX_BLOCK);
  return block;
}

export function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw errors.nonNegativeInt(name, value, true);
  if (value < 0) throw errors.nonNegativeInt(name, value);
  return value;
}

export function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw errors.notBoolean(name, value);
  return value;
}

export function attention(name: string, value: unknown): Attention {
  if (value === 'bidirectional' || value === 'unidirectional') return value;
  throw errors.badAttention(name, value);
}

/** A list of integers (negative entries allowed: they index from the end, as in Python). */
export function intList(name: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw errors.notIntList(name, value);
  return value.map((v, i) => int(`${name}[${i}]`, v));
}

export function seedArg(name: string, value: unknown): number | bigint {
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  throw errors.notSeed(name, value);
}

/** snake_case → camelCase (numHeads for num_heads). */
export const camel = (key: string) => key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** The options object itself: a plain object with no keys outside `known` (snake_case gets a hint). */
export function optionsObject(owner: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw errors.notOptions(owner, value);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = known.includes(camel(key)) ? ` (did you mean ${camel(key)}?)` : '';
    throw errors.unknownOption(owner, key, hint, known);
  }
  return value as Record<string, unknown>;
}

/** DeepSpeed's constructor checks on global ranges (Variable and BSLongformer). */
export function checkGlobalRanges(starts: readonly number[], ends: readonly number[]): void {
  if (starts.length !== ends.length) throw errors.globalRangesLength(starts.length, ends.length);
  starts.forEach((s, i) => {
    if (s >= ends[i]) throw errors.globalRangeEmpty(i, s, ends[i]);
  });
}
