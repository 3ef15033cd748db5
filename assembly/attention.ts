// The fused attention kernels (host side: src/cpu/attention.ts), and the micro-kernel yardstick
// the benchmark measures them against.
export { attentionForward } from './attention-forward';
export { attentionBackwardHeads, attentionBackwardRows, attentionBackwardColumns } from './attention-backward';
export { matmulCeiling } from './tiles';
