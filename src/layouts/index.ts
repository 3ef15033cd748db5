// The layout builders of docs/API.md ("Layouts"): DeepSpeed's six sparsity configs, bit for bit
// (random blocks from a port of CPython's `random`), the Sparse Transformer's strided pattern,
// Phi-3-small's pattern, layouts from a predicate or from ONNX Runtime's CSR tables, and ways to
// look at a layout.
export { SparsityConfig, type SparsityConfigOptions } from './base.js';
export type { Attention } from './args.js';
export { DenseSparsityConfig, type DenseSparsityConfigOptions } from './dense.js';
export { FixedSparsityConfig, type FixedSparsityConfigOptions } from './fixed.js';
export { VariableSparsityConfig, type VariableSparsityConfigOptions } from './variable.js';
export { BigBirdSparsityConfig, type BigBirdSparsityConfigOptions } from './bigbird.js';
export { BSLongformerSparsityConfig, type BSLongformerSparsityConfigOptions } from './longformer.js';
export { LocalSlidingWindowSparsityConfig, type LocalSlidingWindowSparsityConfigOptions } from './sliding-window.js';
export { StridedSparsityConfig, type StridedSparsityConfigOptions } from './strided.js';
export { Phi3SmallSparsityConfig, type Phi3SmallSparsityConfigOptions } from './phi3-small.js';
export { layoutFromMask, type BlockMaskFn } from './mask.js';
export { layoutFromCsr, layoutToCsr, type CsrLayout } from './csr.js';
export { describeLayout, layoutToString, type LayoutDescription } from './describe.js';
export { layoutToSVG, type LayoutSVGOptions } from './svg.js';
export { PythonRandom, type PythonSeed } from './random.js';
