// A decode step's selection and attention in one call (host side: src/cpu/decode-selected.ts): a
// selection kept in the backend (selectBlocks with keepOnDevice over a KV cache's key summaries)
// that attention reads next. Each item is one block row (b, h, r) holding queries: its query block
// pooled (poolBlock), scored and cut (selectRow), then attended over the blocks it kept, in the
// chunks and with the merge of the two-call path (decodeItem, mergeRow), so the layout bytes, out
// and lse are those of selectBlocks followed by attention, bit for bit. One call instead of two: a
// step pays one pool round trip and one pass of host work.
import { poolBlock } from './block-pooling';
import { selectRow } from './block-selection';
import { decodeItem, decodeScratchBytes, decodeSlotBytes, mergeRow } from './attention-decode';

// The call's parameter words at `params` (i32; f32 where noted): twins of DECODE_SELECTED_PARAMS
// in src/cpu/decode-selected.ts, in that order.
// @ts-ignore: decorator
@inline const QS = 0; // the selection's q [B·Hq][Nq][D]
// @ts-ignore: decorator
@inline const QLIMIT = 1; // Int32 [B]: Nq (the rows poolBlock reads per batch row)
// @ts-ignore: decorator
@inline const KP = 2;
// @ts-ignore: decorator
@inline const KLO = 3;
// @ts-ignore: decorator
@inline const KHI = 4;
// @ts-ignore: decorator
@inline const ROWS = 5; // out: C bytes per item
// @ts-ignore: decorator
@inline const ITEMS = 6;
// @ts-ignore: decorator
@inline const QOFFSET = 7;
// @ts-ignore: decorator
@inline const KEY_LENGTHS = 8;
// @ts-ignore: decorator
@inline const HQ = 9;
// @ts-ignore: decorator
@inline const HKV = 10;
// @ts-ignore: decorator
@inline const NQ = 11;
// @ts-ignore: decorator
@inline const R_ = 12;
// @ts-ignore: decorator
@inline const C_ = 13;
// @ts-ignore: decorator
@inline const KBLOCKS = 14;
// @ts-ignore: decorator
@inline const D_ = 15;
// @ts-ignore: decorator
@inline const BLOCK = 16;
// @ts-ignore: decorator
@inline const SEL_CAUSAL = 17;
// @ts-ignore: decorator
@inline const BOUND = 18;
// @ts-ignore: decorator
@inline const SEL_SCALE = 19; // f32
// @ts-ignore: decorator
@inline const TOPK = 20;
// @ts-ignore: decorator
@inline const THRESHOLD = 21; // f32
// @ts-ignore: decorator
@inline const KEEP_DIAGONAL = 22;
// @ts-ignore: decorator
@inline const KEEP_FIRST = 23;
// @ts-ignore: decorator
@inline const KEEP_LOCAL = 24;
// @ts-ignore: decorator
@inline const Q = 25; // attention's q
// @ts-ignore: decorator
@inline const K = 26;
// @ts-ignore: decorator
@inline const V = 27;
// @ts-ignore: decorator
@inline const OUT = 28;
// @ts-ignore: decorator
@inline const LSE = 29;
// @ts-ignore: decorator
@inline const NK = 30;
// @ts-ignore: decorator
@inline const KV_STRIDE = 31;
// @ts-ignore: decorator
@inline const CAUSAL = 32;
// @ts-ignore: decorator
@inline const SCALE = 33; // f32
// @ts-ignore: decorator
@inline const CHUNK_KEYS = 34;
// @ts-ignore: decorator
@inline const MAX_CHUNKS = 35;

// @ts-ignore: decorator
@inline function word(params: usize, i: i32): i32 {
  return load<i32>(params + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function real(params: usize, i: i32): f32 {
  return load<f32>(params + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function align16(bytes: usize): usize {
  return (bytes + 15) & ~(<usize>15);
}

/** Bytes of one task's scratch (twin: decodeSelectedScratchBytes in src/cpu/decode-selected.ts). */
function scratchLayout(D: i32, C: i32, N: i32, block: i32): usize {
  return align16(<usize>D << 2) + align16(12 * <usize>C) + align16(<usize>C << 2) + align16(decodeScratchBytes(N, D, block));
}

/**
 * Items itemBegin … itemEnd − 1 of the Int32 list at ITEMS (t = (b·Hq + h)·R + r). `scratch`: the
 * task's own query block, selection scratch, kept columns, decodeItem scratch, then MAX_CHUNKS
 * partial slots.
 */
export function decodeSelected(params: usize, itemBegin: i32, itemEnd: i32, scratch: usize): void {
  const Hq = word(params, HQ);
  const Nq = word(params, NQ);
  const R = word(params, R_);
  const C = word(params, C_);
  const D = word(params, D_);
  const block = word(params, BLOCK);
  const qOffset = <usize>word(params, QOFFSET);
  const Nk = word(params, NK);
  const causal = word(params, CAUSAL);
  const chunkKeys = word(params, CHUNK_KEYS);
  const maxChunks = word(params, MAX_CHUNKS);
  const qp = scratch;
  const selScratch = qp + align16(<usize>D << 2);
  const cols = selScratch + align16(12 * <usize>C);
  const decScratch = cols + align16(<usize>C << 2);
  const partials = scratch + scratchLayout(D, C, Nq, block);
  const slotBytes = decodeSlotBytes(Nq, D, block);
  const items = <usize>word(params, ITEMS);
  for (let j = itemBegin; j < itemEnd; j++) {
    const t = load<i32>(items + (<usize>j << 2));
    const bh = t / R;
    const r = t - bh * R;
    const b = bh / Hq;
    const row = <usize>word(params, ROWS) + <usize>j * <usize>C;
    poolBlock(<usize>word(params, QS), qp, 0, 0, qOffset, <usize>word(params, QLIMIT), Hq, Nq, D, block, bh, r);
    selectRow(
      qp, <usize>word(params, KP), <usize>word(params, KLO), <usize>word(params, KHI), row, t, qOffset, <usize>word(params, KEY_LENGTHS),
      Hq, word(params, HKV), Nq, R, C, word(params, KBLOCKS), D, block, word(params, SEL_CAUSAL) != 0, word(params, BOUND) != 0,
      real(params, SEL_SCALE), word(params, TOPK), real(params, THRESHOLD), word(params, KEEP_DIAGONAL) != 0,
      word(params, KEEP_FIRST), word(params, KEEP_LOCAL), selScratch,
    );
    // the row's kept columns that hold a key its queries may see (decode.ts decodeWork's entries)
    const off = load<i32>(qOffset + (<usize>b << 2));
    const rowEnd = min(Nq, (r + 1) * block - off);
    const keyEnd = causal != 0 ? min(Nk, off + rowEnd) : Nk;
    const endColumn = min((keyEnd + block - 1) / block, C);
    let n = 0;
    for (let c = 0; c < endColumn; c++) {
      if (load<u8>(row + <usize>c) != 0) store<i32>(cols + (<usize>(n++) << 2), c);
    }
    const per = max(max(1, (chunkKeys + block - 1) / block), (n + maxChunks - 1) / maxChunks);
    const chunks = max(1, (n + per - 1) / per);
    for (let c = 0; c < chunks; c++) {
      const e0 = c * per;
      decodeItem(
        <usize>word(params, Q), <usize>word(params, K), <usize>word(params, V), <usize>word(params, OUT), <usize>word(params, LSE), 0, 0, 0,
        cols, qOffset, Hq, word(params, HKV), Nq, Nk, word(params, KV_STRIDE), D, block, causal, real(params, SCALE),
        bh, r, e0, min(n, e0 + per), partials + <usize>c * slotBytes, chunks == 1, decScratch,
      );
    }
    if (chunks > 1) mergeRow(<usize>word(params, OUT), <usize>word(params, LSE), qOffset, Hq, Nq, D, block, bh, r, partials, chunks);
  }
}
