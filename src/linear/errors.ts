// Messages of BlockSparseLinear's bad input, in one place beside src/errors.ts (whose shared
// messages, for tensors and layouts, the checks reuse). Pinned by test/linear.test.ts.

const show = (v: unknown): string => {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
};

export const linearErrors = {
  features: (name: string, v: unknown) => new RangeError(`${name} must be a positive integer, got ${show(v)}`),
  featuresBlock: (name: string, v: number, block: number) =>
    new RangeError(`${name} (${v}) must be a multiple of block (${block}): the weight is stored as whole ${block}×${block} blocks`),
  block: (name: string, v: unknown) => new RangeError(`${name} must be an integer from 8 to 128, got ${show(v)}`),
  density: (v: unknown) => new RangeError(`density must be a number in (0, 1], got ${show(v)}`),
  densityOrLayout: () => new TypeError('pass density (a number in (0, 1]) or layout, got neither'),
  densityAndLayout: () => new RangeError('pass density or layout, not both: the layout already fixes the kept blocks'),
  layoutBlock: (layoutBlock: number, block: number) =>
    new RangeError(`layout.block (${layoutBlock}) must equal block (${block})`),
  layoutShape: (expected: number[], got: unknown) =>
    new RangeError(`layout.shape must be [1, outFeatures / block, inFeatures / block] = ${show(expected)}, got ${show(got)}`),
  layoutEmpty: () => new RangeError('layout must keep at least one block'),
  bias: (v: unknown) => new TypeError(`bias must be a boolean, got ${show(v)}`),
  flag: (name: string, v: unknown) => new TypeError(`${name} must be a boolean, got ${show(v)}`),
  seed: (v: unknown) => new TypeError(`seed must be a safe integer or a bigint, got ${show(v)}`),
  engine: (v: unknown) => new TypeError(`engine must be an Engine from createEngine (with a matmul method), got ${show(v)}`),
  lastDim: (name: string, what: string, expected: number, got: number) =>
    new RangeError(`${name}.shape's last dimension must equal ${what} (${expected}), got ${got}`),
  sameLeading: (name: string, expected: number[], got: number[]) =>
    new RangeError(`${name}.shape must be ${show(expected)} (x's leading dimensions, then outFeatures), got ${show(got)}`),
  notFinite: (name: string, index: number, v: number) =>
    new RangeError(`${name}.data must be finite to rank blocks by norm, got ${v} at index ${index}`),
};
