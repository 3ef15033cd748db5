// DeepSpeed's block-sparse MatMul on the CPU: one file per mode, the packing and the register
// tile they share in gemm.ts. Host side: src/cpu/matmul.ts.
export { matmulPack } from './gemm';
export { sdd } from './sdd';
export { dsd } from './dsd';
export { dds } from './dds';
