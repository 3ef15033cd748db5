// Every message a caller can see, in one place (piscina's errors.ts). Argument errors name the
// argument, what was expected and what came: TypeError for a value of the wrong kind, RangeError for
// a value of the right kind that is out of range or of the wrong shape. Every other Error starts
// with PREFIX. Tests pin them (test/validation.test.ts, test/layouts.test.ts, test/linear.test.ts).

/** The start of every message that is not an argument error. */
export const PREFIX = 'blocksparse: ';

/** An Error that is not the caller's bad argument: a runtime limit, a failed load, a closed engine. */
export function fail(message: string, options?: { cause?: unknown }): Error {
  return new Error(PREFIX + message, options);
}

/** A broken invariant of this library (a bug here, not the caller's mistake). */
export function internal(message: string): Error {
  return new Error(`${PREFIX}internal: ${message}`);
}

/** A message without PREFIX, to quote inside another one. */
export const withoutPrefix = (message: string): string => (message.startsWith(PREFIX) ? message.slice(PREFIX.length) : message);

/** How a message shows the value it got. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'function') return 'a function';
  if (v instanceof Float32Array) return `a Float32Array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const oneOf = (choices: readonly string[]) => choices.map((c) => `'${c}'`).join(', ').replace(/, ([^,]*)$/, ' or $1');

export const errors = {
  // ---- values of any API ------------------------------------------------------------------------
  notObject: (name: string, v: unknown) => new TypeError(`${name} must be an object, got ${show(v)}`),
  /** `wrongType`: a TypeError (not a number, not an integer); else a RangeError (≤ 0). */
  positiveInt: (name: string, v: unknown, wrongType = false) =>
    new (wrongType ? TypeError : RangeError)(`${name} must be a positive integer, got ${show(v)}`),
  nonNegativeInt: (name: string, v: unknown, wrongType = false) =>
    new (wrongType ? TypeError : RangeError)(`${name} must be a non-negative integer, got ${show(v)}`),
  blockTooLarge: (name: string, v: number, max: number) =>
    new RangeError(`${name} must be at most ${max} (a block's score tile is block² floats), got ${v}`),
  notInt: (name: string, v: unknown) => new TypeError(`${name} must be an integer, got ${show(v)}`),
  notIntList: (name: string, v: unknown) => new TypeError(`${name} must be an array of integers, got ${show(v)}`),
  notNumber: (name: string, v: unknown) => new TypeError(`${name} must be a finite number, got ${show(v)}`),
  notFinite: (name: string, v: unknown) => new RangeError(`${name} must be a finite number, got ${show(v)}`),
  notBoolean: (name: string, v: unknown) => new TypeError(`${name} must be a boolean, got ${show(v)}`),
  badChoice: (name: string, choices: readonly string[], v: unknown) => new RangeError(`${name} must be ${oneOf(choices)}, got ${show(v)}`),
  notSeed: (name: string, v: unknown) => new TypeError(`${name} must be an integer (a safe integer number or a bigint), got ${show(v)}`),
  outOfRange: (name: string, max: number, v: number) => new RangeError(`${name} must be in [0, ${max}], got ${v}`),

  // ---- tensors and layouts ----------------------------------------------------------------------
  misspeltArgument: (call: string, key: string, meant: string) =>
    new TypeError(`${call}: unknown argument ${key} (did you mean ${meant}?): a misspelt option would be ignored`),
  notString: (name: string, v: unknown) => new TypeError(`${name} must be a string, got ${show(v)}`),
  notArrayOf: (name: string, what: string, v: unknown) => new TypeError(`${name} must be ${what}, got ${show(v)}`),
  notFloat32: (name: string, v: unknown) => new TypeError(`${name}.data must be a Float32Array, got ${show(v)}`),
  halfWithoutDtype: (name: string, v: unknown) =>
    new TypeError(`${name}.data is ${show(v)} without dtype: 'float16': half floats need ${name}.dtype 'float16' (a tensor without dtype is float32)`),
  notFloat16: (name: string, v: unknown) =>
    new TypeError(`${name}.data must be a Uint16Array (half-float bits) or a Float16Array for dtype 'float16', got ${show(v)}`),
  float32Only: (name: string) => new TypeError(`${name} must be float32 (dtype 'float16' is taken for q, k, v and dout only)`),
  dtypesDiffer: (name: string, dtype: string, first: string, firstDtype: string) =>
    new TypeError(`${name} is ${dtype} but ${first} is ${firstDtype}: q, k, v and dout take one dtype in a call`),
  notUint8: (name: string, v: unknown) => new TypeError(`${name}.data must be a Uint8Array, got ${show(v)}`),
  notLayout: (name: string, v: unknown) => new TypeError(`${name} must be a Layout { block, shape, data }, got ${show(v)}`),
  /** `wrongType`: not an array at all (TypeError); else the wrong length (RangeError). */
  badShape: (name: string, expected: string, got: unknown, wrongType = false) =>
    new (wrongType ? TypeError : RangeError)(`${name}.shape must be ${expected}, got ${show(got)}`),
  badLength: (name: string, length: number, shape: readonly number[], expected: number) =>
    new RangeError(`${name}.data.length (${length}) must equal the product of ${name}.shape ${show(shape)} (${expected})`),
  mismatch: (name: string, dim: string, expected: number, got: number) => new RangeError(`${name}.${dim} must equal ${expected}, got ${got}`),
  blockDivides: (block: number, what: string, n: number) => new RangeError(`layout.block (${block}) must divide ${what} (${n})`),
  notSquare: (name: string, shape: number[]) =>
    new RangeError(`${name}.layout.shape must be square ([H, R, R]) for softmax, got ${show(shape)}`),
  layoutsDiffer: (a: string, b: string) => new RangeError(`${b}.layout must be the layout of ${a} (same block, shape and kept blocks)`),
  /** GQA / MQA: k's heads (Hkv) must divide q's (Hq). */
  layoutHeadsDivide: (H: number, Hl: number, at = 0) =>
    new RangeError(`layout.shape[${at}] (layout heads Hl) must divide q.shape[1] (H = ${H}): query head h reads layout head h % Hl; got ${Hl}`),
  layoutTooSmall: (dim: string, what: string, need: number, got: number) =>
    new RangeError(`layout.${dim} must be at least ${what} = ${need} (a larger layout is read top-left), got ${got}`),
  notKeyLengths: (v: unknown) => new TypeError(`keyLengths must be an Int32Array [B], got ${show(v)}`),
  keyLengthsLength: (B: number, got: number) => new RangeError(`keyLengths.length must equal B (${B}), got ${got}`),
  keyLengthOutOfRange: (b: number, Nk: number, got: number) => new RangeError(`keyLengths[${b}] must be in [0, ${Nk}] (Nk), got ${got}`),
  notQOffset: (v: unknown) => new TypeError(`qOffset must be a non-negative integer or an Int32Array [B], got ${show(v)}`),
  qOffsetLength: (B: number, got: number) => new RangeError(`qOffset.length must equal B (${B}), got ${got}`),
  qOffsetNegative: (b: number, got: number, byDefault: boolean, keyed = false) =>
    new RangeError(
      byDefault
        ? `qOffset defaults to ${keyed ? `keyLengths[${b}]` : 'Nk'} − Nq = ${got} for batch row ${b}, below 0: pass qOffset (0 when the queries start at position 0)`
        : `qOffset${b < 0 ? '' : `[${b}]`} must be a non-negative integer, got ${got}`,
    ),
  qOffsetTooLarge: (b: number, got: number, last: number) =>
    new RangeError(`qOffset${b < 0 ? '' : `[${b}]`} must be at most ${last} (2^31 − 1 − Nq: positions are 32-bit integers), got ${got}`),
  kvHeadsDivide: (hq: number, hkv: number, name = 'k.shape[1]') =>
    new RangeError(`${name} (Hkv) must divide q.shape[1] (Hq = ${hq}), got ${hkv}: query head h reads kv head floor(h / (Hq / Hkv))`),
  /** v has k's shape exactly. */
  kvShapesDiffer: (i: number, dim: string, expected: number, got: number) =>
    new RangeError(`v.shape[${i}] (${dim}) must equal k.shape[${i}] (${expected}), got ${got}`),

  // ---- device tensors and lifecycle -------------------------------------------------------------
  closed: () => fail('the engine is closed'),
  poolClosed: () => fail('the worker pool is closed'),
  deviceTensorNotAccepted: (name: string) =>
    new TypeError(`${name} is a DeviceTensor, which only attention and attentionBackward take (as q, k, v or dout); pass await ${name}.read() here`),
  foreignDeviceTensor: (name: string) => new TypeError(`${name} is a DeviceTensor of another engine; upload its data to this engine (engine.upload)`),
  /** Checked when the call was made, destroyed before it ran (calls queue): the backend knows no argument names. */
  destroyedBeforeRun: () =>
    new TypeError('an operand of this call (a DeviceTensor, DeviceLayout or KvCache) was destroyed after the call was made, before it ran: destroy() it once the calls that read it have resolved'),
  destroyedDeviceTensor: (name: string) => new TypeError(`${name} is a destroyed DeviceTensor (destroy() was called or its engine closed)`),

  foreignDeviceLayout: (name: string) => new TypeError(`${name} is a DeviceLayout of another engine; pass await ${name}.read() (the host Layout) instead`),
  destroyedDeviceLayout: (name: string) => new TypeError(`${name} is a destroyed DeviceLayout (destroy() was called or its engine closed)`),

  // ---- selectBlocks, attentionMass (src/select-blocks.ts, src/attention-mass.ts) -----------------
  selectRuleMissing: () => new TypeError('selectBlocks needs a rule: pass topK (blocks per row) or threshold (a share of the mass in (0, 1])'),
  selectKeysMissing: () => new TypeError('selectBlocks needs keys: pass k (a tensor [B, Hkv, Nk, D]) or kv (a KvCache)'),
  selectKeysBoth: () => new TypeError('pass either k or kv to selectBlocks, not both: each alone gives the keys'),
  selectRuleBoth: () => new RangeError('pass topK or threshold, not both: each alone decides the blocks of a row'),
  notThreshold: (v: unknown) =>
    new (typeof v === 'number' ? RangeError : TypeError)(`threshold must be a number in (0, 1], got ${show(v)}`),

  // ---- KV caches (src/kv-cache.ts) ---------------------------------------------------------------
  notKvCache: (v: unknown) => new TypeError(`kv must be a KvCache from engine.createKvCache, got ${show(v)}`),
  foreignKvCache: () => new TypeError('kv is a KvCache of another engine; a cache is read only by the engine that made it'),
  destroyedKvCache: () => new TypeError('kv is a destroyed KvCache (destroy() was called or its engine closed)'),
  kvWithKeys: (name: string) => new TypeError(`pass either kv or k and v, not both: got kv and ${name}`),
  kvNotForBackward: () =>
    new TypeError('kv: attentionBackward takes k and v tensors (a KV cache is for inference); pass the keys and values as k and v'),
  kvDtypesDiffer: (name: string, dtype: string, cacheDtype: string) =>
    new TypeError(`${name} is ${dtype} but the KvCache holds ${cacheDtype} (its createKvCache dtype): append ${cacheDtype} keys and values`),
  appendPastCapacity: (length: number, n: number, capacity: number) =>
    new RangeError(`k: appending ${n} tokens to a KvCache holding ${length} would pass its capacity (${capacity}); the cache is unchanged`),
  emptyKvCache: () => new RangeError('kv holds no tokens (kv.length 0): append keys and values before attending over it'),
  keyLengthPastCache: (b: number, length: number, got: number) =>
    new RangeError(`keyLengths[${b}] must be in [0, ${length}] (kv.length, the tokens the cache holds), got ${got}`),

  // ---- layout builders (src/layouts; DeepSpeed's checks, in its words where it has them) ---------
  notOptions: (owner: string, v: unknown) =>
    new TypeError(`${owner} takes one options object${owner.endsWith('SparsityConfig') ? ', e.g. { numHeads: 4 }' : ''}; got ${show(v)}`),
  unknownOption: (owner: string, key: string, hint: string, known: readonly string[]) =>
    new TypeError(`${owner}: unknown option ${key}${hint}; known options are ${known.join(', ')}`),
  badAttention: (name: string, v: unknown) => {
    // DeepSpeed raises NotImplementedError for any other string; that becomes a plain Error here.
    const message = `${name} must be 'bidirectional' or 'unidirectional', got ${show(v)}`;
    return typeof v === 'string' ? new Error(message) : new TypeError(message);
  },
  globalRangesLength: (starts: number, ends: number) =>
    new RangeError(`globalBlockEndIndices length (${ends}) must equal globalBlockIndices length (${starts})`),
  globalRangeEmpty: (i: number, start: number, end: number) =>
    new RangeError(`globalBlockIndices[${i}] (${start}) must be less than globalBlockEndIndices[${i}] (${end})`),
  seqLenDivides: (n: number, block: number) => new RangeError(`seqLen (${n}) must be divisible by block (${block})`),
  layoutTooLarge: (heads: number, rows: number, cols: number, size: number) =>
    new RangeError(`a layout of ${heads} heads × ${rows} × ${cols} blocks (${size} cells) is too large; use a larger block`),
  indexOutOfRange: (name: string, i: number, n: number) =>
    new RangeError(`${name} (${i}) is out of range for ${n} blocks per row (negative indices count from the end, as in Python)`),
  exceedsRow: (name: string, k: number, nb: number) => new RangeError(`${name} (${k}) must not exceed the number of blocks per row (${nb})`),
  causalSample: (k: number, row: number, population: number) =>
    new RangeError(
      `numRandomBlocks (${k}) must be at most 1 for unidirectional attention: block row ${row} has only ` +
        `${population} causal block${population === 1 ? '' : 's'} to sample from`,
    ),
  localDividesGlobal: (L: number, G: number) => new RangeError(`numLocalBlocks (${L}) must be divisible by numGlobalBlocks (${G})`),
  horizontalNeedsBidirectional: (att: string) => new RangeError(`horizontalGlobalAttention needs attention 'bidirectional', got '${att}'`),
  patternsNeedPerHead: (P: number) => new RangeError(`numDifferentGlobalPatterns (${P}) can only exceed 1 with differentLayoutPerHead: true`),
  tooManyPatterns: (P: number, L: number, G: number) =>
    new RangeError(`numDifferentGlobalPatterns (${P}) must not exceed numLocalBlocks / numGlobalBlocks (${L} / ${G} = ${Math.floor(L / G)})`),
  noWindows: () => new RangeError('localWindowBlocks must list at least one window size, got []'),
  lastWindowZero: (windows: number[]) =>
    new RangeError(`localWindowBlocks: the last window size repeats to the end of the row and must be positive, got ${show(windows)}`),
  notBlockCounts: (v: unknown[]) => new TypeError(`numBlocks must be a positive integer or [rows, cols], got an array of length ${v.length}`),
  headSlidingStepHomo: (v: unknown) => new RangeError(`headSlidingStep must be 0 or left out with homoHead: true, got ${show(v)}`),
  notMaskFn: (v: unknown) => new TypeError(`keep must be a function (h, r, c) => boolean, got ${show(v)}`),
  notHeads: (v: unknown) => new TypeError(`heads must be 'all' or a non-empty array of head indices, got ${show(v)}`),

  // ---- layoutFromCsr / layoutToCsr (ONNX Runtime SparseAttention's block_row_indices, block_col_indices)
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

  // ---- SparseSelfAttention (src/sparse-self-attention.ts) -------------------------------------
  notSparsityConfig: (v: unknown) => new TypeError(`sparsityConfig must be a SparsityConfig (e.g. new FixedSparsityConfig({ numHeads: 4 })), got ${show(v)}`),
  notEngine: (name: string, v: unknown) => new TypeError(`${name} must be an Engine from createEngine, got ${show(v)}`),
  pastMaxSeqLength: (name: string, max: number, got: number) =>
    new RangeError(`${name} (${got}) must be at most maxSeqLength (${max}): the master layout covers that many positions`),

  // ---- BlockSparseLinear (src/linear) -----------------------------------------------------------
  linearFeatures: (name: string, v: unknown) => new RangeError(`${name} must be a positive integer, got ${show(v)}`),
  linearFeaturesBlock: (name: string, v: number, block: number) =>
    new RangeError(`${name} (${v}) must be a multiple of block (${block}): the weight is stored as whole ${block}×${block} blocks`),
  linearBlock: (name: string, v: unknown) => new RangeError(`${name} must be an integer from 8 to 128, got ${show(v)}`),
  linearTooLarge: (what: string, max: number) =>
    new RangeError(`BlockSparseLinear: the layer is too large: ${what}, past ${max} (4 GiB of f32, what 32-bit WebAssembly memory holds); use a lower density or fewer features`),
  linearDensity: (v: unknown) => new RangeError(`density must be a number in (0, 1], got ${show(v)}`),
  linearDensityOrLayout: () => new TypeError('pass density (a number in (0, 1]) or layout, got neither'),
  linearDensityAndLayout: () => new RangeError('pass density or layout, not both: the layout already fixes the kept blocks'),
  linearLayoutBlock: (layoutBlock: number, block: number) => new RangeError(`layout.block (${layoutBlock}) must equal block (${block})`),
  linearLayoutShape: (expected: number[], got: unknown) =>
    new RangeError(`layout.shape must be [1, outFeatures / block, inFeatures / block] = ${show(expected)}, got ${show(got)}`),
  linearLayoutEmpty: () => new RangeError('layout must keep at least one block'),
  linearSeed: (v: unknown) => new TypeError(`seed must be a safe integer or a bigint, got ${show(v)}`),
  linearEngine: (v: unknown) => new TypeError(`engine must be an Engine from createEngine (with a matmul method), got ${show(v)}`),
  linearLastDim: (name: string, what: string, expected: number, got: number) =>
    new RangeError(`${name}.shape's last dimension must equal ${what} (${expected}), got ${got}`),
  linearSameLeading: (name: string, expected: number[], got: number[]) =>
    new RangeError(`${name}.shape must be ${show(expected)} (x's leading dimensions, then outFeatures), got ${show(got)}`),
  linearNotFinite: (name: string, index: number, v: number) =>
    new RangeError(`${name}.data must be finite (its blocks are ranked and measured by norm), got ${v} at index ${index}`),

  // ---- what a call asks of a backend's memory (src/cpu, gpu/) -----------------------------------
  wasmMemoryLimit: (endBytes: number, maxBytes: number) =>
    new RangeError(
      `${PREFIX}this call needs ${(endBytes / 2 ** 20).toFixed(0)} MiB of Wasm memory, past the ${(maxBytes / 2 ** 20).toFixed(0)} MiB limit of 32-bit WebAssembly; use fewer batches, heads or a shorter sequence per call`,
    ),
  wasmMemoryRefused: (endBytes: number, e: unknown) =>
    new RangeError(`${PREFIX}this call needs ${(endBytes / 2 ** 20).toFixed(0)} MiB of Wasm memory and the runtime refused to grow it (${String(e)})`),
  gpuBufferTooLarge: (label: string, bytes: number, bindingMax: number, bufferMax: number) =>
    new RangeError(
      `${PREFIX}webgpu: ${label} needs ${bytes} bytes, more than this device binds (maxStorageBufferBindingSize ${bindingMax}, maxBufferSize ${bufferMax})`,
    ),
  residentLayoutForwardOnly: () =>
    new TypeError(`${PREFIX}a layout held on the device (selectBlocks with keepOnDevice) serves the forward only; read() it for attentionBackward`),
  gpuUploadTooLarge: (bytes: number, max: number) => new RangeError(`${PREFIX}webgpu: upload needs ${bytes} bytes, more than this device binds (${max})`),
  gpuUploadFailed: (floats: number, why: string) => new RangeError(`${PREFIX}webgpu: upload of ${floats} floats failed: ${why}`),
  gpuTooManyWorkgroups: (total: number, maxPerDim: number) =>
    new RangeError(`${PREFIX}webgpu: ${total} workgroups exceed ${maxPerDim}² in one dispatch`),
  gpuMatmulBlock: (block: number) =>
    new RangeError(`${PREFIX}webgpu: layout.block (${block}) must be a multiple of 4 for the matmul programs, which read blocks as vec4 rows`),
  gpuAttentionBlock: (kernel: string, block: number) =>
    new RangeError(
      `${PREFIX}webgpu: layout.block must be a multiple of 16 for the ${kernel} attention tiles, got ${block} (the decode path, at most 16 query rows, takes any block, and so does the CPU backend)`,
    ),
  gpuNoTile: (kernel: string, override: unknown, block: number, headDim: number, maxSharedBytes: number) =>
    new RangeError(
      `${PREFIX}webgpu: no ${kernel} attention tile${override ? ` like ${JSON.stringify(override)}` : ''} for block ${block} and head dim ${headDim} fits in ${maxSharedBytes} bytes of workgroup memory`,
    ),
  noAdapter: (why: string) => fail(`backend 'webgpu': no adapter was found: ${why}`),
};
