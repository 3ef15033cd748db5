// Every message a caller can see for bad input, in one place (piscina's errors.ts). Each names the
// argument, what was expected and what came; tests pin them (test/validation.test.ts).

const show = (v: unknown): string => {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (v instanceof Float32Array) return `a Float32Array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
};

export const errors = {
  notObject: (name: string, v: unknown) => new TypeError(`${name} must be an object, got ${show(v)}`),
  notFloat32: (name: string, v: unknown) => new TypeError(`${name}.data must be a Float32Array, got ${show(v)}`),
  notUint8: (name: string, v: unknown) => new TypeError(`${name}.data must be a Uint8Array, got ${show(v)}`),
  badShape: (name: string, expected: string, got: unknown) =>
    new RangeError(`${name}.shape must be ${expected}, got ${show(got)}`),
  badLength: (name: string, length: number, shape: number[], expected: number) =>
    new RangeError(`${name}.data.length (${length}) must equal the product of ${name}.shape ${show(shape)} (${expected})`),
  mismatch: (name: string, dim: string, expected: number, got: number) =>
    new RangeError(`${name}.${dim} must equal ${expected}, got ${got}`),
  notPositiveInt: (name: string, v: unknown) => new RangeError(`${name} must be a positive integer, got ${show(v)}`),
  blockDivides: (block: number, what: string, n: number) =>
    new RangeError(`layout.block (${block}) must divide ${what} (${n})`),
  notFinite: (name: string, v: unknown) => new RangeError(`${name} must be a finite number, got ${show(v)}`),
  notBoolean: (name: string, v: unknown) => new TypeError(`${name} must be a boolean, got ${show(v)}`),
  badChoice: (name: string, choices: readonly string[], v: unknown) =>
    new RangeError(`${name} must be ${choices.map((c) => `'${c}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}, got ${show(v)}`),
  notSquare: (name: string, shape: number[]) =>
    new RangeError(`${name}.layout.shape must be square ([H, R, R]) for softmax, got ${show(shape)}`),
  layoutsDiffer: (a: string, b: string) =>
    new RangeError(`${b}.layout must be the layout of ${a} (same block, shape and kept blocks)`),
  closed: () => new Error('blocksparse: the engine is closed'),
  deviceTensorNotAccepted: (name: string) =>
    new TypeError(`${name} is a DeviceTensor, which only attention and attentionBackward take (as q, k, v or dout); pass await ${name}.read() here`),
  foreignDeviceTensor: (name: string) =>
    new TypeError(`${name} is a DeviceTensor of another engine; upload its data to this engine (engine.upload)`),
  destroyedDeviceTensor: (name: string) =>
    new TypeError(`${name} is a destroyed DeviceTensor (destroy() was called or its engine closed)`),
  // layoutFromCsr / layoutToCsr (ONNX Runtime SparseAttention's block_row_indices, block_col_indices)
  csrNotInt32: (name: string, v: unknown) => new TypeError(`${name} must be an Int32Array, got ${show(v)}`),
  csrRowLength: (length: number, numLayouts: number) =>
    new RangeError(`rowIndices.length (${length}) must be numLayouts (${numLayouts}) × (R + 1), R ≥ 1 block rows`),
  csrColLength: (length: number, numLayouts: number, R: number) =>
    new RangeError(`colIndices.length (${length}) must be numLayouts (${numLayouts}) × nnzMax, nnzMax ≤ R² (${R * R})`),
  csrRowStart: (i: number, layout: number, got: number) =>
    new RangeError(`rowIndices[${i}] (layout ${layout}, row 0) must be 0, got ${got}`),
  csrRowOrder: (i: number, got: number, prev: number) =>
    new RangeError(`rowIndices must be non-decreasing within a layout: rowIndices[${i}] (${got}) < rowIndices[${i - 1}] (${prev})`),
  csrRowRange: (i: number, got: number, nnzMax: number) =>
    new RangeError(`rowIndices[${i}] (${got}) must be at most nnzMax (${nnzMax}), the column entries per layout`),
  csrColRange: (i: number, got: number, R: number, layout: number, row: number) =>
    new RangeError(`colIndices[${i}] (${got}) (layout ${layout}, block row ${row}) must be in [0, ${R})`),
  csrColRepeat: (i: number, col: number, layout: number, row: number) =>
    new RangeError(`colIndices[${i}] repeats block column ${col} of layout ${layout}, block row ${row}`),
  csrNotSquare: (shape: number[]) =>
    new RangeError(`layout.shape must be square ([H, R, R]) for ONNX Runtime's CSR tables, got ${show(shape)}`),
};
