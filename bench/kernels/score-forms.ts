// Bench-only AssemblyScript (not part of the library build): the forward's two products at one
// block, in the forms the kernel could take, so their rates can be compared on one core of any
// machine (bench/score-forms.ts). Every form sums over k in the same order as assembly/tiles.ts'
// blockMM, so a form that wins can replace today's without changing a bit.
import { blockMM, matmulCeiling, INIT_LOAD, INIT_SCALE, INIT_ZERO } from '../../assembly/tiles';

export { matmulCeiling };

/** Today's scores: s[64 keys][64 queries] = K rows (strided broadcasts) · qt [D][64]. */
export function scoreStrided(k: usize, qt: usize, s: usize, D: i32, reps: i32): void {
  for (let r = 0; r < reps; r++) blockMM(k, <usize>D << 2, 4, qt, 256, D, s, 256, 64, 64, INIT_ZERO, 0);
}

/** The same over head-dim chunks of `chunk`, the partial sums stored and reloaded (exact). */
export function scoreSplit(k: usize, qt: usize, s: usize, D: i32, chunk: i32, reps: i32): void {
  for (let r = 0; r < reps; r++) {
    for (let d0 = 0; d0 < D; d0 += chunk) {
      const kk = min(chunk, D - d0);
      blockMM(k + (<usize>d0 << 2), <usize>D << 2, 4, qt + <usize>d0 * 256, 256, kk, s, 256, 64, 64, d0 == 0 ? INIT_ZERO : INIT_LOAD, 0);
    }
  }
}

/** K packed as panels [16][D][4] (4 keys per d, adjacent): constant broadcast offsets. */
export function packPanels(k: usize, kp: usize, D: i32): void {
  const rowBytes = <usize>D << 2;
  for (let band = 0; band < 16; band++) {
    const s0 = k + <usize>band * 4 * rowBytes;
    const d0 = kp + <usize>band * <usize>D * 16;
    for (let d = 0; d < D; d += 4) {
      const r0 = v128.load(s0 + (<usize>d << 2));
      const r1 = v128.load(s0 + rowBytes + (<usize>d << 2));
      const r2 = v128.load(s0 + 2 * rowBytes + (<usize>d << 2));
      const r3 = v128.load(s0 + 3 * rowBytes + (<usize>d << 2));
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      const pd = d0 + (<usize>d << 4);
      v128.store(pd, i64x2.shuffle(t0, t1, 0, 2));
      v128.store(pd, i64x2.shuffle(t0, t1, 1, 3), 16);
      v128.store(pd, i64x2.shuffle(t2, t3, 0, 2), 32);
      v128.store(pd, i64x2.shuffle(t2, t3, 1, 3), 48);
    }
  }
}

/** Scores from panels (pack = 1: packed each rep, as a kernel without reuse would). */
export function scorePanel(k: usize, kp: usize, qt: usize, s: usize, D: i32, pack: i32, reps: i32): void {
  for (let r = 0; r < reps; r++) {
    if (pack) packPanels(k, kp, D);
    for (let band = 0; band < 16; band++) {
      blockMM(kp + <usize>band * <usize>D * 16, 4, 16, qt, 256, D, s + <usize>band * 1024, 256, 4, 64, INIT_ZERO, 0);
    }
  }
}

/** Today's P·V: o[64][D] = alpha·o + Pᵀ (s, transposed: constant offsets) · V rows. */
export function pvToday(s: usize, v: usize, o: usize, alpha: usize, D: i32, reps: i32): void {
  for (let r = 0; r < reps; r++) blockMM(s, 4, 256, v, <usize>D << 2, 64, o, <usize>D << 2, 64, D, INIT_SCALE, alpha);
}

/** P·V strip by strip of `strip` columns (the V strip and o's columns stay in L1). */
export function pvStrips(s: usize, v: usize, o: usize, alpha: usize, D: i32, strip: i32, reps: i32): void {
  for (let r = 0; r < reps; r++) {
    for (let n0 = 0; n0 < D; n0 += strip) {
      blockMM(s, 4, 256, v + (<usize>n0 << 2), <usize>D << 2, 64, o + (<usize>n0 << 2), <usize>D << 2, 64, min(strip, D - n0), INIT_SCALE, alpha);
    }
  }
}
