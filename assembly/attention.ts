// The fused attention kernels (host side: src/cpu/attention.ts, decode.ts), and the micro-kernel yardstick
// the benchmark measures them against.
export { attentionForward } from './attention-forward';
export { attentionDecode, attentionDecodeMerge } from './attention-decode';
export { attentionBackwardHeads, attentionBackwardRows, attentionBackwardColumns } from './attention-backward';
export { fmaPeak, matmulCeiling } from './tiles';
export { decodeSelected } from './decode-selected';
