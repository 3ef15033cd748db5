// Layout transposes between our [B, H, N, D] and ONNX Runtime's [B, N, H*D] (BSNH).

/** [B, H, N, D] → [B, N, H*D] (ONNX Runtime's BSNH). */
export function bhndToBsnh(x: Float32Array, B: number, H: number, N: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < N; n++) {
        const src = ((b * H + h) * N + n) * D;
        const dst = ((b * N + n) * H + h) * D;
        out.set(x.subarray(src, src + D), dst);
      }
    }
  }
  return out;
}

/** [B, N, H*D] → [B, H, N, D]. */
export function bsnhToBhnd(x: Float32Array, B: number, H: number, N: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let h = 0; h < H; h++) {
        const src = ((b * N + n) * H + h) * D;
        const dst = ((b * H + h) * N + n) * D;
        out.set(x.subarray(src, src + D), dst);
      }
    }
  }
  return out;
}
