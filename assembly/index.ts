// The kernel module's exports: one file per op, one export name per kernel (tfjs-backend-wasm).
// Kernels see byte offsets into the imported (shared) memory and counts only: no allocation, no
// globals, no static data, so every worker can instantiate the same module over one memory.
// The host binds each export by its parameters' names (src/cpu/kernels.ts): a changed signature
// changes that table too (test/kernels.test.ts compares them).
export * from './attention';
export * from './sparse-matmul';
export * from './sparse-softmax';
export * from './diagnostics';
export * from './select-blocks';
