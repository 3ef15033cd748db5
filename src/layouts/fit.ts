// The layout one call reads, from the layout it was given (API.md, "Attention for real models"):
// query head h reads layout head h % Hl (Hl dividing H; ONNX Runtime's rule), a layout larger than
// the sequence is read top-left (one layout built for the longest length serves every shorter one),
// and a [B, Hl, R, C] layout gives each batch row its own. The fitted layout is cached per given
// layout and shape, so that its compiled tables (compileLayout, cached by identity) are built once.
// A selection held as its rows (selected-layout.ts) is fitted as its rows, its data never read.
import type { BatchedLayout, Layout } from '../types.js';
import { selectedLayout, selectedRows } from './selected-layout.js';

/** Keyed by layout.data, or by the layout itself for a selection held as its rows. */
const fitted = new WeakMap<object, Map<string, Layout | BatchedLayout>>();

/**
 * `layout` read as [H, R, C] (from [Hl, R', C']) or [B, H, R, C] (from [B, Hl, R', C']): heads
 * repeated cyclically, rows and columns cropped.
 */
export function fitLayout(layout: Layout | BatchedLayout, H: number, R: number, C: number): Layout | BatchedLayout {
  const shape = layout.shape as readonly number[];
  const batched = shape.length === 4;
  const [Bl, Hl, Rl, Cl] = batched ? shape : [1, ...shape];
  if (Hl === H && Rl === R && Cl === C) return layout;
  const key = `${layout.block}:${shape.join(',')}>${H},${R},${C}`;
  const held = selectedRows(layout);
  const owner: object = held ? layout : layout.data;
  let byShape = fitted.get(owner);
  const hit = byShape?.get(key);
  if (hit) return hit;
  if (!byShape) fitted.set(owner, (byShape = new Map()));
  if (held) {
    const out = selectedLayout(held.fit(H, R, C));
    byShape.set(key, out);
    return out;
  }
  const data = new Uint8Array(Bl * H * R * C);
  for (let b = 0; b < Bl; b++) {
    for (let h = 0; h < H; h++) {
      for (let r = 0; r < R; r++) {
        const from = ((b * Hl + (h % Hl)) * Rl + r) * Cl;
        data.set(layout.data.subarray(from, from + C), ((b * H + h) * R + r) * C);
      }
    }
  }
  const out: Layout | BatchedLayout = batched
    ? { block: layout.block, shape: [Bl, H, R, C], data }
    : { block: layout.block, shape: [H, R, C], data };
  byShape.set(key, out);
  return out;
}
