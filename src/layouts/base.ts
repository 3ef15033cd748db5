// The parent of every sparsity config, as DeepSpeed's `SparsityConfig`: shared options, the zeroed
// layout of `setup_layout`, `check_and_propagate_first_head_layout`, and the few Python indexing
// rules the configs lean on (negative indices, clamped slices), so that the ports read line by line.
import type { Layout } from '../types.js';
import { errors, show } from '../errors.js';
import { blockSide, bool, optionsObject, positiveInt } from './args.js';

export interface SparsityConfigOptions {
  /** Number of attention heads of the layer. Required. */
  numHeads: number;
  /** Block size; a layout cell covers `block × block` tokens. Default 16. */
  block?: number;
  /** Give each head its own layout (where the pattern can differ). Default false. */
  differentLayoutPerHead?: boolean;
}

/**
 * A block-sparse attention pattern: `makeLayout(seqLen)` returns `{ block, shape: [numHeads, nb, nb], data }`
 * with `nb = seqLen / block`. Extend it for a custom pattern, as DeepSpeed's tutorial suggests: set
 * head 0 (or every head when `differentLayoutPerHead`) and call `checkAndPropagateFirstHeadLayout`.
 */
export abstract class SparsityConfig {
  /** The class name, for messages and drawings (survives minification). */
  abstract readonly kind: string;
  readonly numHeads: number;
  readonly block: number;
  readonly differentLayoutPerHead: boolean;
  /** Heads built one by one: numHeads when differentLayoutPerHead, else 1 (copied to the rest). */
  readonly numLayoutHeads: number;

  /**
   * @param owner the class name, used in error messages.
   * @param known every option key the subclass accepts; anything else is a TypeError. Omit to skip that check.
   */
  constructor(options: SparsityConfigOptions, owner = 'SparsityConfig', known?: readonly string[]) {
    const o = optionsObject(owner, options, known ?? Object.keys(options ?? {}));
    this.numHeads = positiveInt('numHeads', o.numHeads);
    this.block = blockSide('block', o.block ?? 16);
    this.differentLayoutPerHead = bool('differentLayoutPerHead', o.differentLayoutPerHead ?? false);
    this.numLayoutHeads = this.differentLayoutPerHead ? this.numHeads : 1;
  }

  /** The layout for a sequence of `seqLen` tokens (a positive multiple of `block`). */
  abstract makeLayout(seqLen: number): Layout;

  /** DeepSpeed's `setup_layout`: an all-zero layout of [numHeads, nb, nb]. */
  protected setupLayout(seqLen: number): Layout {
    return zeroLayout(this.numHeads, numBlocks(seqLen, this.block), this.block);
  }

  /** DeepSpeed's `check_and_propagate_first_head_layout`: copy head 0 to every head unless differentLayoutPerHead. */
  protected checkAndPropagateFirstHeadLayout(layout: Layout): Layout {
    if (!this.differentLayoutPerHead) {
      const size = layout.shape[1] * layout.shape[2];
      for (let h = 1; h < layout.shape[0]; h++) layout.data.copyWithin(h * size, 0, size);
    }
    return layout;
  }

  /** The resolved options (defaults filled in), as a plain object. */
  toJSON(): Record<string, unknown> {
    return { ...(this as object) } as Record<string, unknown>;
  }

  toString(): string {
    const { kind, numLayoutHeads, ...options } = this.toJSON();
    void numLayoutHeads;
    const parts = Object.entries(options).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${k}: ${show(v)}`);
    return `${String(kind)}({ ${parts.join(', ')} })`;
  }
}

/** `seq_len // block`, after checking what DeepSpeed's `setup_layout` checks (and the types). */
export function numBlocks(seqLen: unknown, block: number): number {
  const n = positiveInt('seqLen', seqLen);
  if (n % block !== 0) throw errors.seqLenDivides(n, block);
  return n / block;
}

/** An all-zero layout of [heads, rows, cols] (square unless cols is given). */
export function zeroLayout(heads: number, rows: number, block: number, cols = rows): Layout {
  const size = heads * rows * cols;
  if (size > 2 ** 31 - 1) {
    throw errors.layoutTooLarge(heads, rows, cols, size);
  }
  return { block, shape: [heads, rows, cols], data: new Uint8Array(size) };
}

/** A half-open range [lo, hi) of block indices. */
export type Span = readonly [number, number];

/** Python's slice `start:stop` over `n` items (step 1): negative bounds count from the end, then clamp. */
export function span(start: number | undefined, stop: number | undefined, n: number): Span {
  const norm = (x: number) => (x < 0 ? Math.max(0, x + n) : Math.min(x, n));
  const lo = start === undefined ? 0 : norm(start);
  const hi = stop === undefined ? n : norm(stop);
  return [lo, Math.max(lo, hi)];
}

/** Python's `seq[i]` bound check: a negative i counts from the end; out of range is an IndexError (RangeError here). */
export function pyIndex(i: number, n: number, name: string): number {
  if (i < -n || i >= n) {
    throw errors.indexOutOfRange(name, i, n);
  }
  return i < 0 ? i + n : i;
}

/** `layout[h, rows, cols] = 1`. */
export function fill(layout: Layout, h: number, rows: Span, cols: Span): void {
  const [, R, C] = layout.shape;
  const data = layout.data;
  for (let r = rows[0]; r < rows[1]; r++) data.fill(1, (h * R + r) * C + cols[0], (h * R + r) * C + Math.max(cols[0], cols[1]));
}

/** `layout[h, r, c] = 1`. */
export function set(layout: Layout, h: number, r: number, c: number): void {
  const [, R, C] = layout.shape;
  layout.data[(h * R + r) * C + c] = 1;
}

/** `torch.tril` on head h: zero every block above the diagonal. */
export function trilHead(layout: Layout, h: number): void {
  const [, R, C] = layout.shape;
  for (let r = 0; r < R; r++) {
    if (r + 1 < C) layout.data.fill(0, (h * R + r) * C + r + 1, (h * R + r + 1) * C);
  }
}
