// The kernel module's exports: one file per op, one export name per kernel (tfjs-backend-wasm).
// Kernels see byte offsets into the imported (shared) memory and counts only: no allocation, no
// globals, no static data, so every worker can instantiate the same module over one memory.
export * from './attention';
export * from './sparse-matmul';
export * from './sparse-softmax';
export * from './diagnostics';
