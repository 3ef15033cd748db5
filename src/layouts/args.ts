// Argument checks for the layout builders, run before any DeepSpeed-specific check. Each error
// names the argument and the value it got: TypeError for the wrong kind of value, RangeError for a
// value of the right kind out of range.
import type { Layout } from '../types.js';

/** DeepSpeed's `attention` argument. */
export type Attention = 'bidirectional' | 'unidirectional';

export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'function') return 'a function';
  if (value !== null && typeof value === 'object') return Object.prototype.toString.call(value);
  return String(value);
}

/** An integer number (not NaN, not a float). */
export function int(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${show(value)}`);
  }
  return value;
}

export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a positive integer, got ${show(value)}`);
  }
  if (value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

export function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a non-negative integer, got ${show(value)}`);
  }
  if (value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

export function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

/** DeepSpeed raises NotImplementedError for any other string; that becomes a plain Error here. */
export function attention(name: string, value: unknown): Attention {
  if (value === 'bidirectional' || value === 'unidirectional') return value;
  const message = `${name} must be 'bidirectional' or 'unidirectional', got ${show(value)}`;
  throw typeof value === 'string' ? new Error(message) : new TypeError(message);
}

/** A list of integers (negative entries allowed: they index from the end, as in Python). */
export function intList(name: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of integers, got ${show(value)}`);
  return value.map((v, i) => int(`${name}[${i}]`, v));
}

export function seedArg(name: string, value: unknown): number | bigint {
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  throw new TypeError(`${name} must be an integer (a safe integer number or a bigint), got ${show(value)}`);
}

const camel = (key: string) => key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** The options object itself: a plain object with no keys outside `known` (snake_case gets a hint). */
export function optionsObject(owner: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${owner} takes one options object, e.g. { numHeads: 4 }; got ${show(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = known.includes(camel(key)) ? ` (did you mean ${camel(key)}?)` : '';
    throw new TypeError(`${owner}: unknown option ${key}${hint}; known options are ${known.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

/** DeepSpeed's constructor checks on global ranges (Variable and BSLongformer). */
export function checkGlobalRanges(starts: readonly number[], ends: readonly number[]): void {
  if (starts.length !== ends.length) {
    throw new RangeError(
      `globalBlockEndIndices length (${ends.length}) must equal globalBlockIndices length (${starts.length})`,
    );
  }
  starts.forEach((s, i) => {
    if (s >= ends[i]) {
      throw new RangeError(`globalBlockIndices[${i}] (${s}) must be less than globalBlockEndIndices[${i}] (${ends[i]})`);
    }
  });
}

/** A structurally valid Layout: `block` and `shape` positive integers, `data` a Uint8Array of H*R*C. */
export function checkLayout(layout: unknown, name = 'layout'): Layout {
  if (layout === null || typeof layout !== 'object') throw new TypeError(`${name} must be a Layout { block, shape, data }, got ${show(layout)}`);
  const { block, shape, data } = layout as Partial<Layout>;
  positiveInt(`${name}.block`, block);
  if (!Array.isArray(shape) || shape.length !== 3) {
    throw new TypeError(`${name}.shape must be [heads, blockRows, blockCols], got ${show(shape)}`);
  }
  shape.forEach((d, i) => positiveInt(`${name}.shape[${i}]`, d));
  if (!(data instanceof Uint8Array)) throw new TypeError(`${name}.data must be a Uint8Array, got ${show(data)}`);
  const expected = shape[0] * shape[1] * shape[2];
  if (data.length !== expected) {
    throw new RangeError(`${name}.data.length must equal ${shape.join('*')} (${expected}), got ${data.length}`);
  }
  return layout as Layout;
}
