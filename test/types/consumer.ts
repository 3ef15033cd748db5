// A TypeScript user of the package, written against docs/API.md: it imports
// 'blocksparse' as any dependent would (through package.json `exports` and its `types` condition,
// so dist/src/index.d.ts), and exercises every part of the contract's types. The lines under an
// expect-error directive must stay errors: the types reject what the contract rejects.
// Never run: `tsc -p test/types` (and tsconfig.es.json) only checks it (test/types.test.ts).
import {
  createEngine,
  DenseSparsityConfig,
  FixedSparsityConfig,
  VariableSparsityConfig,
  BigBirdSparsityConfig,
  BSLongformerSparsityConfig,
  LocalSlidingWindowSparsityConfig,
  StridedSparsityConfig,
  layoutFromMask,
  layoutFromCsr,
  layoutToCsr,
  Phi3SmallSparsityConfig,
  layoutToSVG,
  describeLayout,
  SparseSelfAttention,
  type SparseSelfAttentionOptions,
  type BatchedLayout,
  type Tensor,
  type Layout,
  type CsrLayout,
  type Phi3SmallSparsityConfigOptions,
  type BlockSparseTensor,
  type Engine,
  type EngineInfo,
  type EngineOptions,
  type AttentionArgs,
  type AttentionBackwardArgs,
  type AttentionGradients,
  type BackendName,
  type BackendChoice,
  type DeviceTensor,
  type DeviceAttentionGradients,
  type AttentionWithLse,
  type DeviceAttentionWithLse,
  type Float16Tensor,
  type Dtype,
  toFloat16,
  fromFloat16,
} from 'blocksparse';

/** Compile-time equality: `expectType<Equal<A, B>>()` fails to compile unless A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_T extends true>(): void {}

export async function consumer(): Promise<void> {
  // ---- Engine ----------------------------------------------------------------------------------
  const options: EngineOptions = { backend: 'auto', threads: 4 };
  const engine: Engine = await createEngine(options);
  await createEngine();
  await createEngine({ backend: 'cpu' });
  await createEngine({ backend: 'webgpu' });
  // @ts-expect-error: backends are 'cpu' | 'webgpu' | 'auto'
  await createEngine({ backend: 'cuda' });
  // @ts-expect-error: threads is a number
  await createEngine({ threads: 'many' });

  expectType<Equal<BackendName, 'cpu' | 'webgpu'>>();
  expectType<Equal<BackendChoice, 'cpu' | 'webgpu' | 'auto'>>();
  const backend: 'cpu' | 'webgpu' = engine.backend;
  const info: EngineInfo = engine.info;
  const fallbacks: string[] = info.fallbacks;
  const chosen: BackendName = info.backend;
  void [backend, fallbacks, chosen, info.threads, info.simd];

  // ---- Layouts -----------------------------------------------------------------------------------
  const configs = [
    new DenseSparsityConfig({ numHeads: 4, block: 16 }),
    new FixedSparsityConfig({
      numHeads: 4,
      block: 16,
      differentLayoutPerHead: true,
      numLocalBlocks: 4,
      numGlobalBlocks: 1,
      attention: 'bidirectional',
      horizontalGlobalAttention: false,
      numDifferentGlobalPatterns: 2,
    }),
    new VariableSparsityConfig({
      numHeads: 4,
      block: 16,
      differentLayoutPerHead: false,
      numRandomBlocks: 1,
      localWindowBlocks: [4, 8],
      globalBlockIndices: [0, 4],
      globalBlockEndIndices: [2, 6],
      attention: 'unidirectional',
      horizontalGlobalAttention: false,
      seed: 1,
    }),
    new BigBirdSparsityConfig({
      numHeads: 4,
      block: 16,
      differentLayoutPerHead: true,
      numRandomBlocks: 1,
      numSlidingWindowBlocks: 3,
      numGlobalBlocks: 1,
      attention: 'bidirectional',
      seed: 3,
    }),
    new BSLongformerSparsityConfig({
      numHeads: 4,
      block: 16,
      differentLayoutPerHead: false,
      numSlidingWindowBlocks: 3,
      globalBlockIndices: [0],
      globalBlockEndIndices: [1],
      attention: 'bidirectional',
    }),
    new LocalSlidingWindowSparsityConfig({ numHeads: 4, block: 16, numSlidingWindowBlocks: 3, attention: 'unidirectional' }),
    new StridedSparsityConfig({ numHeads: 4, block: 16 }),
  ];
  // @ts-expect-error: numHeads is required
  new DenseSparsityConfig({ block: 16 });
  // @ts-expect-error: attention is 'bidirectional' | 'unidirectional'
  new FixedSparsityConfig({ numHeads: 2, attention: 'sideways' });
  // @ts-expect-error: DeepSpeed's snake_case names are camel-cased here
  new BigBirdSparsityConfig({ numHeads: 2, num_random_blocks: 1 });

  const layouts: Layout[] = configs.map((c) => c.makeLayout(256));
  const layout: Layout = layouts[1]!;
  const [H, R, C]: [number, number, number] = layout.shape;
  const block: number = layout.block;
  const cells: Uint8Array = layout.data;
  const fromMask: Layout = layoutFromMask(4, 16, (h: number, r: number, c: number) => h >= 0 && c <= r, 16);
  const rect: Layout = layoutFromMask(4, [1, 16], (_h: number, _r: number, c: number) => c < 4, 64);
  // @ts-expect-error: numBlocks is a number or [rows, cols]
  layoutFromMask(4, [1, 16, 2], () => true);
  const csr: CsrLayout = layoutToCsr(fromMask);
  const rows: Int32Array = csr.rowIndices;
  const fromCsr: Layout = layoutFromCsr({ rowIndices: rows, colIndices: csr.colIndices, numLayouts: csr.numLayouts, block: 16 });
  // @ts-expect-error: ORT's tables are Int32Arrays
  layoutFromCsr({ rowIndices: [0, 1], colIndices: new Int32Array(1), numLayouts: 1, block: 16 });
  const phi3Options: Phi3SmallSparsityConfigOptions = { numHeads: 32, block: 64, numLocalBlocks: 16, verticalStride: 8, homoHead: false, headSlidingStep: 1 };
  const phi3: Layout = new Phi3SmallSparsityConfig(phi3Options).makeLayout(1000);
  // @ts-expect-error: the model's snake_case names are camel-cased here
  new Phi3SmallSparsityConfig({ numHeads: 32, vert_stride: 8 });
  void [rect, fromCsr, phi3];
  const svg: string = layoutToSVG(fromMask);
  const density: number = describeLayout(layout).density;
  void [H, R, C, block, cells, svg, density];

  // ---- Tensors and attention ----------------------------------------------------------------------
  const [B, N, D] = [1, 256, 64];
  const t = (shape: number[]): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
  const q = t([B, H, N, D]);
  const k = t([B, H, N, D]);
  const v = t([B, H, N, D]);
  const args: AttentionArgs = {
    q,
    k,
    v,
    layout,
    scale: 0.125,
    causal: true,
    rpe: t([B, H, N, N]),
    keyPaddingMask: t([B, N]),
    keyPaddingMaskMode: 'mul',
    attnMask: t([N, N]),
    attnMaskMode: 'add',
  };
  const out: Tensor = await engine.attention(args);
  const data: Float32Array = out.data;
  const shape: number[] = out.shape;
  await engine.attention({ q, k, v, layout });
  // @ts-expect-error: the mask modes are 'add' | 'mul'
  await engine.attention({ q, k, v, layout, attnMaskMode: 'multiply' });
  // @ts-expect-error: a layout is required
  await engine.attention({ q, k, v });
  // @ts-expect-error: tensors hold a Float32Array
  await engine.attention({ q: { data: [1, 2], shape: [1, 1, 1, 2] }, k, v, layout });

  const backward: AttentionBackwardArgs = { ...args, dout: out };
  const grads: AttentionGradients = await engine.attentionBackward(backward);
  const { dq, dk, dv } = await engine.attentionBackward({ q, k, v, layout, dout: out });
  expectType<Equal<typeof dq, Tensor>>();
  // @ts-expect-error: backward needs dout
  await engine.attentionBackward({ q, k, v, layout });
  void [data, shape, grads, dk, dv];

  // ---- GQA / MQA and returnLse (Attention for real models) -----------------------------------------
  const kGroup = t([B, 1, N, D]); // one kv head for every query head (MQA)
  const withLse = await engine.attention({ q, k: kGroup, v: kGroup, layout, causal: true, returnLse: true });
  expectType<Equal<typeof withLse, AttentionWithLse>>();
  const lse: Tensor = withLse.lse;
  const lseOut: Tensor = withLse.out;
  const plainOut = await engine.attention({ q, k: kGroup, v: kGroup, layout, returnLse: false });
  expectType<Equal<typeof plainOut, Tensor>>();
  const lseKept = await engine.attention({ q, k: kGroup, v: kGroup, layout, returnLse: true, keepOnDevice: true });
  expectType<Equal<typeof lseKept, DeviceAttentionWithLse>>();
  const keptLse: Tensor = lseKept.lse;
  const keptLseOut: DeviceTensor = lseKept.out;
  // @ts-expect-error: returnLse is a boolean
  await engine.attention({ q, k, v, layout, returnLse: 'yes' });
  void [lse, lseOut, keptLse, keptLseOut];

  // ---- layout heads, batched layouts, keyLengths, qOffset (Attention for real models) --------------
  const perBatch: BatchedLayout = { block: 16, shape: [2, 1, 4, 4], data: new Uint8Array(32) };
  await engine.attention({ q, k, v, layout: perBatch, keyLengths: Int32Array.of(64, 40), qOffset: 0 });
  await engine.attention({ q, k, v, layout, qOffset: Int32Array.of(0, 0) });
  // @ts-expect-error: keyLengths is an Int32Array
  await engine.attention({ q, k, v, layout, keyLengths: [64, 40] });
  // @ts-expect-error: qOffset is a number or an Int32Array
  await engine.attention({ q, k, v, layout, qOffset: '0' });

  // ---- SparseSelfAttention (DeepSpeed's module) ---------------------------------------------------
  const ssa = new SparseSelfAttention({ sparsityConfig: new FixedSparsityConfig({ numHeads: 2 }), maxSeqLength: 256, engine });
  const ssaOut: Tensor = await ssa.forward(q, k, v, { causal: true });
  const ssaGrads: AttentionGradients = await ssa.backward(q, k, v, ssaOut);
  const crop: Layout = ssa.layoutFor(64);
  const ssaOptions: SparseSelfAttentionOptions = { sparsityConfig: new FixedSparsityConfig({ numHeads: 2 }), attnMaskMode: 'add' };
  // @ts-expect-error: the sparsity config is required
  new SparseSelfAttention({ maxSeqLength: 256 });
  void [ssaGrads, crop, ssaOptions];

  // ---- DeviceTensors (an extension of the contract) -----------------------------------------------
  const qd: DeviceTensor = await engine.upload(q);
  const kept = await engine.attention({ q: qd, k, v, layout, keepOnDevice: true });
  expectType<Equal<typeof kept, DeviceTensor>>();
  const readBack: Tensor = await kept.read();
  const keptGrads = await engine.attentionBackward({ q: qd, k, v: kept, layout, dout: kept, keepOnDevice: true });
  expectType<Equal<typeof keptGrads, DeviceAttentionGradients>>();
  const hostOut = await engine.attention({ q: qd, k, v, layout });
  expectType<Equal<typeof hostOut, Tensor>>();
  // @ts-expect-error: a DeviceTensor has no data to touch; read() it
  void qd.data;
  // @ts-expect-error: the low-level ops take Tensors only
  await engine.matmul({ mode: 'sdd', a: qd, b: k, layout });
  qd.destroy();
  void [readBack, qd.destroyed, qd.backend];

  // ---- Float16 storage ---------------------------------------------------------------------------
  const bits: Uint16Array = toFloat16(q.data);
  const widened: Float32Array = fromFloat16(bits);
  const qh: Float16Tensor = { data: bits, shape: q.shape, dtype: 'float16' };
  const kh: Float16Tensor = { data: toFloat16(k.data), shape: k.shape, dtype: 'float16' };
  const outH = await engine.attention({ q: qh, k: kh, v: kh, layout });
  expectType<Equal<typeof outH, Float16Tensor>>();
  const lseH = await engine.attention({ q: qh, k: kh, v: kh, layout, returnLse: true });
  expectType<Equal<typeof lseH.out, Float16Tensor>>();
  expectType<Equal<typeof lseH.lse, Tensor>>();
  const gradsH = await engine.attentionBackward({ q: qh, k: kh, v: kh, layout, dout: outH });
  expectType<Equal<typeof gradsH, AttentionGradients<'float16'>>>();
  const qhd = await engine.upload(qh);
  expectType<Equal<typeof qhd, DeviceTensor<'float16'>>>();
  const readH: Float16Tensor = await qhd.read();
  const keptH = await engine.attention({ q: qhd, k: kh, v: kh, layout, keepOnDevice: true });
  expectType<Equal<typeof keptH, DeviceTensor<'float16'>>>();
  const dtype: Dtype = keptH.dtype;
  const cacheH = await engine.createKvCache({ batch: B, kvHeads: H, headDim: D, capacity: N, dtype: 'float16' });
  await cacheH.append({ k: kh, v: kh });
  const overCache = await engine.attention({ q: qh, kv: cacheH, layout });
  expectType<Equal<typeof overCache, Float16Tensor>>();
  // @ts-expect-error: a float16 tensor says so (dtype: 'float16')
  const noDtype: Float16Tensor = { data: bits, shape: q.shape };
  // @ts-expect-error: a float32 Tensor holds a Float32Array
  const bitsAsF32: Tensor = { data: bits, shape: q.shape };
  // @ts-expect-error: dtypes are 'float32' | 'float16'
  await engine.createKvCache({ batch: B, kvHeads: H, headDim: D, capacity: N, dtype: 'bfloat16' });
  void [widened, readH, dtype, noDtype, bitsAsF32];

  // ---- Low-level ops -----------------------------------------------------------------------------
  const scores = await engine.matmul({ mode: 'sdd', a: q, b: k, layout, transA: false, transB: true });
  expectType<Equal<typeof scores, BlockSparseTensor>>();
  const scoreShape: [number, number, number, number] = scores.shape;
  const scoreLayout: Layout = scores.layout;
  const probs: BlockSparseTensor = await engine.softmax({
    x: scores,
    scale: 0.125,
    causal: true,
    rpe: t([B, H, N, N]),
    keyPaddingMask: t([B, N]),
    keyPaddingMaskMode: 'add',
    attnMask: t([N, N]),
    attnMaskMode: 'mul',
  });
  const ctx = await engine.matmul({ mode: 'dsd', a: probs, b: v });
  expectType<Equal<typeof ctx, Tensor>>();
  const back = await engine.matmul({ mode: 'dds', a: q, b: probs, transB: true });
  expectType<Equal<typeof back, Tensor>>();
  const dScores: BlockSparseTensor = await engine.softmaxBackward({ y: probs, dy: probs, scale: 0.125 });
  // @ts-expect-error: sdd needs a layout
  await engine.matmul({ mode: 'sdd', a: q, b: k });
  // @ts-expect-error: dsd's a is a BlockSparseTensor
  await engine.matmul({ mode: 'dsd', a: q, b: v });
  // @ts-expect-error: modes are 'sdd' | 'dsd' | 'dds'
  await engine.matmul({ mode: 'ddd', a: q, b: k });
  void [scoreShape, scoreLayout, dScores];

  const closed: Promise<void> = engine.close();
  await closed;
}
