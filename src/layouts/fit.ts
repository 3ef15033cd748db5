// The layout one call reads, from the layout it was given (API.md, "Attention for real models"):
// query head h reads layout head h % Hl (Hl dividing H; ONNX Runtime's rule), and a layout larger
// than the sequence is read top-left, so one layout built for the longest length serves every
// shorter one. The fitted layout is cached per given layout and shape, so that its compiled tables
// (compileLayout, cached by identity) are built once.
import type { Layout } from '../types.js';

const fitted = new WeakMap<Uint8Array, Map<string, Layout>>();

/** `layout` read as [H, R, C]: heads repeated cyclically, rows and columns cropped. */
export function fitLayout(layout: Layout, H: number, R: number, C: number): Layout {
  const [Hl, Rl, Cl] = layout.shape;
  if (Hl === H && Rl === R && Cl === C) return layout;
  const key = `${layout.block}:${Hl},${Rl},${Cl}>${H},${R},${C}`;
  let byShape = fitted.get(layout.data);
  const hit = byShape?.get(key);
  if (hit) return hit;
  const data = new Uint8Array(H * R * C);
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      const from = ((h % Hl) * Rl + r) * Cl;
      data.set(layout.data.subarray(from, from + C), (h * R + r) * C);
    }
  }
  const out: Layout = { block: layout.block, shape: [H, R, C], data };
  if (!byShape) fitted.set(layout.data, (byShape = new Map()));
  byShape.set(key, out);
  return out;
}
