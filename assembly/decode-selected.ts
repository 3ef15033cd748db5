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

/** Bytes of one task's scratch before its partial slots (twin: scratchBytes in src/cpu/decode-selected.ts). */
function scratchLayout(D: i32, C: i32, N: i32, block: i32): usize {
  return align16(<usize>D << 2) + align16(12 * <usize>C) + align16(<usize>C << 2) + align16(decodeScratchBytes(N, D, block));
}

/**
 * Items itemBegin … itemEnd − 1 of the Int32 list `items` (t = (b·Hq + h)·R + r). `params`: the
 * call's parameter words (i32; selScale, threshold and scale f32), in the order of
 * DECODE_SELECTED_PARAMS in src/cpu/decode-selected.ts, read below in that order. `scratch`: the
 * task's own query block, selection scratch, kept columns, decodeItem scratch, then maxChunks
 * partial slots.
 */
export function decodeSelected(params: usize, itemBegin: i32, itemEnd: i32, scratch: usize): void {
  const qs = <usize>word(params, 0); // the selection's q [B·Hq][Nq][D]
  const qLimit = <usize>word(params, 1); // Int32 [B]: Nq (the rows poolBlock reads per batch row)
  const kp = <usize>word(params, 2);
  const kLo = <usize>word(params, 3);
  const kHi = <usize>word(params, 4);
  const rows = <usize>word(params, 5); // out: C bytes per item
  const items = <usize>word(params, 6);
  const qOffset = <usize>word(params, 7);
  const keyLengths = <usize>word(params, 8);
  const Hq = word(params, 9);
  const Hkv = word(params, 10);
  const Nq = word(params, 11);
  const R = word(params, 12);
  const C = word(params, 13);
  const kBlocks = word(params, 14);
  const D = word(params, 15);
  const block = word(params, 16);
  const selCausal = word(params, 17) != 0;
  const bound = word(params, 18) != 0;
  const selScale = real(params, 19);
  const topK = word(params, 20);
  const threshold = real(params, 21);
  const keepDiagonal = word(params, 22) != 0;
  const keepFirst = word(params, 23);
  const keepLocal = word(params, 24);
  const q = <usize>word(params, 25); // attention's q
  const k = <usize>word(params, 26);
  const v = <usize>word(params, 27);
  const out = <usize>word(params, 28);
  const lse = <usize>word(params, 29);
  const Nk = word(params, 30);
  const kvStride = word(params, 31);
  const causal = word(params, 32);
  const scale = real(params, 33);
  const chunkKeys = word(params, 34);
  const maxChunks = word(params, 35);
  const qp = scratch;
  const selScratch = qp + align16(<usize>D << 2);
  const cols = selScratch + align16(12 * <usize>C);
  const decScratch = cols + align16(<usize>C << 2);
  const partials = scratch + scratchLayout(D, C, Nq, block);
  const slotBytes = decodeSlotBytes(Nq, D, block);
  for (let j = itemBegin; j < itemEnd; j++) {
    const t = load<i32>(items + (<usize>j << 2));
    const bh = t / R;
    const r = t - bh * R;
    const b = bh / Hq;
    const row = rows + <usize>j * <usize>C;
    poolBlock(qs, qp, 0, 0, qOffset, qLimit, Hq, Nq, D, block, bh, r);
    selectRow(
      qp, kp, kLo, kHi, row, t, qOffset, keyLengths, Hq, Hkv, Nq, R, C, kBlocks, D, block, selCausal, bound, selScale,
      topK, threshold, keepDiagonal, keepFirst, keepLocal, selScratch,
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
        q, k, v, out, lse, 0, 0, 0, cols, qOffset, Hq, Hkv, Nq, Nk, kvStride, D, block, causal, scale,
        bh, r, e0, min(n, e0 + per), partials + <usize>c * slotBytes, chunks == 1, decScratch,
      );
    }
    if (chunks > 1) mergeRow(out, lse, qOffset, Hq, Nq, D, block, bh, r, partials, chunks);
  }
}
