// Pooled blocks for content-based selection (src/cpu/select-blocks.ts): the mean of each block's
// rows. One kernel serves queries and keys: item t = (bh, j) of `heads` heads per batch row and
// `blocks` blocks per head reads rows max(j·block − shift[b], 0) … min((j + 1)·block − shift[b],
// limit[b]) − 1 of head bh (rows of D floats, `rows` per head) and writes their mean to
// dst + t·D floats, zeros where the block holds no row. Each row is added in order, lane by lane,
// whatever task runs the item.

export function poolBlocks(
  src: usize, dst: usize, shift: usize, limit: usize,
  heads: i32, rows: i32, D: i32, block: i32, blocks: i32,
  itemBegin: i32, itemEnd: i32,
): void {
  const rowBytes = <usize>D << 2;
  const D4 = D & ~3;
  for (let t = itemBegin; t < itemEnd; t++) {
    const bh = t / blocks;
    const j = t - bh * blocks;
    const b = bh / heads;
    const s = load<i32>(shift + (<usize>b << 2));
    const first = max(j * block - s, 0);
    const end = min(min((j + 1) * block - s, load<i32>(limit + (<usize>b << 2))), rows);
    const out = dst + <usize>t * rowBytes;
    memory.fill(out, 0, rowBytes);
    if (end <= first) continue;
    let p = src + (<usize>bh * <usize>rows + <usize>first) * rowBytes;
    for (let i = first; i < end; i++) {
      let d = 0;
      for (; d < D4; d += 4) {
        const o = <usize>d << 2;
        v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(p + o)));
      }
      for (; d < D; d++) {
        const o = <usize>d << 2;
        store<f32>(out + o, load<f32>(out + o) + load<f32>(p + o));
      }
      p += rowBytes;
    }
    const n = <f32>(end - first);
    const nv = f32x4.splat(n);
    let d = 0;
    for (; d < D4; d += 4) {
      const o = <usize>d << 2;
      v128.store(out + o, f32x4.div(v128.load(out + o), nv));
    }
    for (; d < D; d++) {
      const o = <usize>d << 2;
      store<f32>(out + o, load<f32>(out + o) / n);
    }
  }
}
