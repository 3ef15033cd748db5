// Pooled blocks for content-based selection (src/cpu/select-blocks.ts) and a KV cache's key
// summaries (src/cpu/kv-cache.ts): the mean, min and max of each block's rows. Item t over
// B·heads·jCount is (bh, j), j = jFirst + t % jCount of `blocks` blocks per head: it reads rows
// max(j·block − shift[b], 0) … min((j + 1)·block − shift[b], limit[b]) − 1 of head bh (rows of D
// floats, `rows` per head) and writes their mean, min and max to mean, lo, hi + (bh·blocks + j)·D
// floats (each skipped where its pointer is 0), zeros where the block holds no row. Each row is
// added in order, lane by lane, whatever task runs the item or which outputs it writes: the mean
// of a block is the same bits wherever it is made.

export function poolBlocks(
  src: usize, mean: usize, lo: usize, hi: usize, shift: usize, limit: usize,
  heads: i32, rows: i32, D: i32, block: i32, blocks: i32, jFirst: i32, jCount: i32,
  itemBegin: i32, itemEnd: i32,
): void {
  for (let t = itemBegin; t < itemEnd; t++) {
    const bh = t / jCount;
    const j = jFirst + t - bh * jCount;
    const at = (<usize>bh * <usize>blocks + <usize>j) * (<usize>D << 2);
    poolBlock(src, mean ? mean + at : 0, lo ? lo + at : 0, hi ? hi + at : 0, shift, limit, heads, rows, D, block, bh, j);
  }
}

/**
 * One item of poolBlocks: block j of head bh into the D floats at mean, lo, hi (each skipped where
 * 0). decode-selected.ts pools a decode step's query blocks with it.
 */
export function poolBlock(
  src: usize, mean: usize, lo: usize, hi: usize, shift: usize, limit: usize,
  heads: i32, rows: i32, D: i32, block: i32, bh: i32, j: i32,
): void {
  const rowBytes = <usize>D << 2;
  const D4 = D & ~3;
  const b = bh / heads;
  const s = load<i32>(shift + (<usize>b << 2));
  const first = max(j * block - s, 0);
  const end = min(min((j + 1) * block - s, load<i32>(limit + (<usize>b << 2))), rows);
  if (mean) memory.fill(mean, 0, rowBytes);
  if (lo) memory.fill(lo, 0, rowBytes);
  if (hi) memory.fill(hi, 0, rowBytes);
  if (end <= first) return;
  const p0 = src + (<usize>bh * <usize>rows + <usize>first) * rowBytes;
  if (mean) meanRows(p0, end - first, rowBytes, D, D4, mean);
  if (lo) boundRows(p0, end - first, rowBytes, D, D4, lo, hi);
}

/** The mean of the n rows at p (rowBytes apart) into `out` (zeroed): summed in order, then divided. */
// @ts-ignore: decorator
@inline function meanRows(p: usize, n: i32, rowBytes: usize, D: i32, D4: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
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
  const nf = <f32>n;
  const nv = f32x4.splat(nf);
  let d = 0;
  for (; d < D4; d += 4) {
    const o = <usize>d << 2;
    v128.store(out + o, f32x4.div(v128.load(out + o), nv));
  }
  for (; d < D; d++) {
    const o = <usize>d << 2;
    store<f32>(out + o, load<f32>(out + o) / nf);
  }
}

/** The elementwise min and max of the n ≥ 1 rows at p into lo and hi. */
// @ts-ignore: decorator
@inline function boundRows(p: usize, n: i32, rowBytes: usize, D: i32, D4: i32, lo: usize, hi: usize): void {
  memory.copy(lo, p, rowBytes);
  memory.copy(hi, p, rowBytes);
  for (let i = 1; i < n; i++) {
    p += rowBytes;
    let d = 0;
    for (; d < D4; d += 4) {
      const o = <usize>d << 2;
      const x = v128.load(p + o);
      v128.store(lo + o, f32x4.min(v128.load(lo + o), x));
      v128.store(hi + o, f32x4.max(v128.load(hi + o), x));
    }
    for (; d < D; d++) {
      const o = <usize>d << 2;
      const x = load<f32>(p + o);
      store<f32>(lo + o, min(load<f32>(lo + o), x));
      store<f32>(hi + o, max(load<f32>(hi + o), x));
    }
  }
}
