// The selection of engine.selectBlocks on WebGPU: one workgroup per (b, h, block row r) of a window
// of rows (those holding a query: a decode step's is one row) picks that row's blocks from its
// pooled scores s[c] (select-blocks.ts computes them) and writes the row's layout bytes, four to a
// u32 word. The allowed columns are a prefix [0, cEnd) (c ≤ r with causal, c·block < keyLengths[b]).
//
// Both rules are "the largest key t whose set {c: key(s_c) ≥ t} reaches a goal": topK counts the
// set (goal K), threshold sums its softmax mass exp(s_c − max) (goal τ·Z). key() maps the f32
// scores onto u32 in order. A radix select rather than a sort: a row of C = 2048+ scores does not
// fit a workgroup's memory as (score, index) pairs, and the mass of a set is a plain sum.
//   - Each thread owns 4 adjacent columns of every 1024 (one u32 word of the output), so it reads
//     them as one vec4 and writes its words without the others. Rows of up to STAGED_COLUMNS keep
//     their keys (and weights) in registers for all passes; longer rows re-read s each pass.
//   - The bits above the highest one where the row's least and largest keys differ are t's
//     already; the passes start below them, so the first pass's digits spread over the row's own
//     range instead of piling into a few bins (the workgroup atomics that serialised).
//   - topK: first a histogram of 256 even buckets of the row's score range (monotone in the score).
//     A bucket of at most 256 keys that holds t is gathered and t found by rank within it; a larger
//     one goes on 8 bits a pass among its keys, each a histogram of the next digit in workgroup
//     atomics over the keys that share t's bits above it. A digit is found from 16 partial sums.
//   - threshold: no float atomics in WGSL, so 2 bits a pass, one sum of three candidate sets. The
//     mass sums keep one order (each thread's columns in turn, then 16 partials, then their sum),
//     so the set of every allowed column sums to Z exactly and the search stays monotone.
// Columns whose key equals t are taken lowest c first, as many as the goal still needs. τ = 1 and
// topK ≥ cEnd skip the search: every allowed block.
import { Program, type BindingSpec } from './program.js';
import { exclusiveScanWGSL } from './wgsl-scan.js';

/** Threads per row: 256, one per digit value in the topK rule's histogram passes. */
export const SELECT_WG = 256;
/** Columns a thread owns per chunk (one output word) and a chunk's columns. */
const PER = 4;
const CHUNK = SELECT_WG * PER;
/** Rows of at most this many columns keep their keys in registers (4 vec4s a thread). */
export const STAGED_COLUMNS = 4 * CHUNK;

/** Chunks of registers a row of `cols` columns takes, or 0 when it streams from s every pass. */
export function stagedChunks(cols: number): number {
  return cols <= STAGED_COLUMNS ? Math.max(1, Math.ceil(cols / CHUNK)) : 0;
}

export class SelectRowsProgram extends Program {
  readonly name = 'SelectRowsProgram';
  readonly bindings: readonly BindingSpec[];
  readonly uniforms = [
    ['heads', 'u32'],
    ['nq', 'u32'],
    /** Layout rows and columns; rows and columns of the score buffer per (b, h) (padded to its tiles, a multiple of 4). */
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['rowsPad', 'u32'],
    ['colsPad', 'u32'],
    /** The window: `span` block rows per (b, h) from the one pos holds at rowOff + b (score row and output row 0). */
    ['span', 'u32'],
    ['rowOff', 'u32'],
    /** u32 words per output row: ceil(cols / 4), and the word of this dispatch's first row in out. */
    ['words', 'u32'],
    ['outOff', 'u32'],
    ['causal', 'u32'],
    ['topK', 'u32'],
    ['threshold', 'f32'],
    ['keepDiagonal', 'u32'],
    ['keepFirst', 'u32'],
    ['keepLocal', 'u32'],
    /** The first (b, h) of this dispatch; where pos holds qOffset [B] and keyLengths [B]. */
    ['bhBase', 'u32'],
    ['offOff', 'u32'],
    ['lenOff', 'u32'],
  ] as const;
  readonly workgroupSize = SELECT_WG;
  readonly shaderKey: string;

  /**
   * `chunks`: stagedChunks(cols) of the rows this program selects (0: streamed). `counts`: also
   * write each row's kept blocks to ptr[row + 1] (row = bh·rows + r: a held layout's kvPtr, summed
   * by LayoutScanProgram), and its words at that row of a [B·H, rows, words] output.
   */
  constructor(
    readonly block: number,
    readonly rule: 'topK' | 'threshold',
    readonly chunks: number,
    readonly counts = false,
  ) {
    super();
    this.bindings = [
      { name: 's', access: 'read', elem: 'vec4<f32>' },
      { name: 'pos', access: 'read', elem: 'i32' },
      { name: 'out', access: 'read_write', elem: 'i32' },
      ...(counts ? [{ name: 'ptr', access: 'read_write', elem: 'i32' } as const] : []),
    ];
    if (!Number.isInteger(chunks) || chunks < 0 || chunks * CHUNK > STAGED_COLUMNS) throw new RangeError(`SelectRowsProgram: chunks must be an integer in [0, ${STAGED_COLUMNS / CHUNK}], got ${chunks}`);
    this.shaderKey = `b${block}/${this.rule}/wg${SELECT_WG}/j${chunks}${counts ? '/counts' : ''}`;
  }

  /**
   * `body` once per chunk of the thread's columns, with c0 (its first column), kv (their keys),
   * ok (which are allowed) and, for the threshold, wv (their weights) in scope. Staged: unrolled
   * over the registers, each chunk behind a uniform test; streamed: a loop re-reading s (`uniform`:
   * the loop runs over whole chunks for every thread, for bodies that hold barriers). `weights`
   * false: before the weights exist (they need the row's max).
   */
  private eachChunk(body: string, uniform = false, weights = true): string {
    const mass = this.rule === 'threshold' && weights;
    if (this.chunks > 0) {
      return Array.from({ length: this.chunks }, (_, j) => `if (${j * CHUNK}u < cEnd) {
    let c0 = ${j * CHUNK}u + ${PER}u * lid;
    let kv = kr${j};
    let ok = allowed(c0, cEnd);
    ${mass ? `let wv = wr${j};` : ''}
    ${body}
  }`).join('\n  ');
    }
    const head = uniform ? `for (var cb = 0u; cb < cEnd; cb += ${CHUNK}u) {
    let c0 = cb + ${PER}u * lid;` : `for (var c0 = ${PER}u * lid; c0 < cEnd; c0 += ${CHUNK}u) {`;
    return `${head}
    let sv = s[(sBase + min(c0, u.colsPad - ${PER}u)) / ${PER}u];
    let kv = keyOf(sv);
    let ok = allowed(c0, cEnd);
    ${mass ? 'let wv = select(vec4<f32>(0.0), exp(sv - mx), ok);' : ''}
    ${body}
  }`;
  }

  /** WGSL: `name`, the workgroup's least (.x) and largest (.y) of the keys where `mask` holds (uniform). */
  private keyBounds(name: string, mask: string): string {
    return `var ${name}Lo = vec4<u32>(0xffffffffu);
  var ${name}Hi = vec4<u32>(0u);
  ${this.eachChunk(`let m = ${mask};
    ${name}Lo = min(${name}Lo, select(vec4<u32>(0xffffffffu), kv, m));
    ${name}Hi = max(${name}Hi, select(vec4<u32>(0u), kv, m));`, false, false)}
  let ${name} = boundsAll(vec2<u32>(min(min(${name}Lo.x, ${name}Lo.y), min(${name}Lo.z, ${name}Lo.w)), max(max(${name}Hi.x, ${name}Hi.y), max(${name}Hi.z, ${name}Hi.w))), lid);`;
  }

  body(): string {
    const mass = this.rule === 'threshold';
    const J = this.chunks;
    const regs = Array.from({ length: J }, (_, j) => `var kr${j} = vec4<u32>(0u);${mass ? ` var wr${j} = vec4<f32>(0.0);` : ''}`).join('\n  ');
    const load = Array.from({ length: J }, (_, j) => `if (${j * CHUNK}u < cEnd) { kr${j} = keyOf(s[(sBase + min(${j * CHUNK}u + ${PER}u * lid, u.colsPad - ${PER}u)) / ${PER}u]); }`).join('\n  ');
    const weights = Array.from({ length: J }, (_, j) => `wr${j} = select(vec4<f32>(0.0), exp(scoreOf(kr${j}) - mx), allowed(${j * CHUNK}u + ${PER}u * lid, cEnd));`).join('\n  ');
    return `
const BLK = ${this.block}u;
const WG = ${SELECT_WG}u;
var<workgroup> redF: array<vec4<f32>, WG>;
var<workgroup> redU: array<vec2<u32>, WG>;
var<workgroup> partF: array<vec4<f32>, 16>;
var<workgroup> partU: array<vec2<u32>, 16>;
var<workgroup> castF: vec4<f32>;
var<workgroup> castU: vec2<u32>;
${mass ? '' : `var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> part: array<u32, 16>;
var<workgroup> chosen: vec3<u32>;
var<workgroup> gathered: atomic<u32>;
var<workgroup> bucketKeys: array<u32, WG>;

/** The bucket of each score of keys k among 256 even ones from sLo (bs: 256 / their spread). */
fn bucketOf(k: vec4<u32>, sLo: f32, bs: f32) -> vec4<u32> {
  return min(vec4<u32>(max(scoreOf(k) - vec4<f32>(sLo), vec4<f32>(0.0)) * bs), vec4<u32>(255u));
}

/**
 * After a histogram pass (hist): the largest digit d whose keys, with more keys above them all,
 * reach K, from 16 runs of 16 digits; (d, the keys above d, those at d). One always does: the
 * keys a pass counts, with those above, are at least K.
 */
fn findDigit(more: u32, lid: u32) -> vec3<u32> {
  workgroupBarrier();
  if (lid < 16u) {
    var n = 0u;
    for (var d = 0u; d < 16u; d++) { n += atomicLoad(&hist[lid * 16u + d]); }
    part[lid] = n;
  }
  workgroupBarrier();
  if (lid < 16u) {
    var larger = more;
    for (var j = lid + 1u; j < 16u; j++) { larger += part[j]; }
    if (larger < u.topK && larger + part[lid] >= u.topK) {
      for (var d = lid * 16u + 15u; ; d--) {
        let n = atomicLoad(&hist[d]);
        if (larger + n >= u.topK) { chosen = vec3<u32>(d, larger, n); break; }
        larger += n;
        if (d == lid * 16u) { break; }
      }
    }
  }
  return workgroupUniformLoad(&chosen);
}`}

/** The order of the f32 scores on u32 (−0 as +0, so that equal scores have equal keys). */
fn keyOf(s: vec4<f32>) -> vec4<u32> {
  let bits = bitcast<vec4<u32>>(select(s, vec4<f32>(0.0), s == vec4<f32>(0.0)));
  return select(bits | vec4<u32>(0x80000000u), ~bits, (bits & vec4<u32>(0x80000000u)) != vec4<u32>(0u));
}

/** The score of a key (keyOf's inverse, −0 having become +0). */
fn scoreOf(k: vec4<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(select(~k, k & vec4<u32>(0x7fffffffu), (k & vec4<u32>(0x80000000u)) != vec4<u32>(0u)));
}

fn allowed(c0: u32, cEnd: u32) -> vec4<bool> {
  return vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(cEnd);
}

/** x >> n, 0 for n ≥ 32 (a shift by the bit width is masked, not zero). */
fn above(x: u32, n: u32) -> u32 {
  return select(x >> min(n, 31u), 0u, n >= 32u);
}

/** How many low bits the keys between b.x and b.y do not all share (0 when they are equal). */
fn bitsBelowShared(b: vec2<u32>) -> u32 {
  return select(32u - countLeadingZeros(b.x ^ b.y), 0u, b.x == b.y);
}

/** x with its top low bits cleared. */
fn sharedBits(x: u32, top: u32) -> u32 {
  return x & ~select((1u << min(top, 31u)) - 1u, 0xffffffffu, top >= 32u);
}

/** The workgroup's sum of v: lid order in 16 runs of 16, then the runs in order (uniform). */
fn sumAll(v: vec4<f32>, lid: u32) -> vec4<f32> {
  redF[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var a = redF[lid * 16u];
    for (var i = 1u; i < 16u; i++) { a = a + redF[lid * 16u + i]; }
    partF[lid] = a;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var a = partF[0];
    for (var i = 1u; i < 16u; i++) { a = a + partF[i]; }
    castF = a;
  }
  return workgroupUniformLoad(&castF);
}

/** The workgroup's least .x and largest .y (uniform). */
fn boundsAll(v: vec2<u32>, lid: u32) -> vec2<u32> {
  redU[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var a = redU[lid * 16u];
    for (var i = 1u; i < 16u; i++) { let b = redU[lid * 16u + i]; a = vec2<u32>(min(a.x, b.x), max(a.y, b.y)); }
    partU[lid] = a;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var a = partU[0];
    for (var i = 1u; i < 16u; i++) { let b = partU[i]; a = vec2<u32>(min(a.x, b.x), max(a.y, b.y)); }
    castU = a;
  }
  return workgroupUniformLoad(&castU);
}

${exclusiveScanWGSL(SELECT_WG)}

fn run(wg: u32, lid: u32) {
  let bhl = wg / u.span;
  let i = wg % u.span; // the row in the window
  let bh = u.bhBase + bhl;
  let b = bh / u.heads;
  let r = u32(pos[u.rowOff + b]) + i;
  let qoff = u32(pos[u.offOff + b]);
  let klen = u32(pos[u.lenOff + b]);
  // a block row holding none of q's rows stays empty (the output starts zeroed)
  if (r >= u.rows || r * BLK >= qoff + u.nq || r * BLK + BLK <= qoff) { return; }
  var cEnd = min(u.cols, (klen + BLK - 1u) / BLK);
  if (u.causal == 1u) { cEnd = min(cEnd, r + 1u); }
  if (cEnd == 0u) { return; }
  let sBase = (bhl * u.rowsPad + i) * u.colsPad;
  ${regs}
  ${load}
  // the row's least and largest keys (the bits of t above where they differ, and the max score)
  ${this.keyBounds('range', 'ok')}
  var top = bitsBelowShared(range);
  var t = sharedBits(range.x, top);
  ${mass ? `let mx = scoreOf(vec4<u32>(range.y)).x;
  ${weights}
  var z = 0.0;
  ${this.eachChunk('z = z + wv.x + wv.y + wv.z + wv.w;')}
  let goal = u.threshold * sumAll(vec4<f32>(z, 0.0, 0.0, 0.0), lid).x;
  // τ = 1 keeps every allowed block, those whose mass rounds to nothing included
  let keepAll = u.threshold >= 1.0;
  if (keepAll) { top = 0u; }
  // two bits a pass from the top of the range: the largest candidate whose set reaches the goal
  loop {
    if (top == 0u) { break; }
    let width = min(2u, top);
    let shift = top - width;
    let c1 = t | (1u << shift);
    let c2 = t | (2u << shift);
    let c3 = t | (3u << shift);
    var acc = vec4<f32>(0.0);
    ${this.eachChunk(`for (var e = 0u; e < ${PER}u; e++) {
      acc = acc + select(vec4<f32>(0.0), vec4<f32>(wv[e]), vec4<bool>(kv[e] >= c1, kv[e] >= c2 && width == 2u, kv[e] >= c3 && width == 2u, false));
    }`)}
    let reach = sumAll(acc, lid);
    if (reach.z >= goal) { t = c3; } else if (reach.y >= goal) { t = c2; } else if (reach.x >= goal) { t = c1; }
    top = shift;
  }
  // the columns above t, and those at t (equal scores), in count and weight
  var acc = vec4<f32>(0.0);
  ${this.eachChunk(`for (var e = 0u; e < ${PER}u; e++) {
      if (ok[e] && kv[e] > t) { acc = acc + vec4<f32>(1.0, wv[e], 0.0, 0.0); }
      if (ok[e] && kv[e] == t) { acc = acc + vec4<f32>(0.0, 0.0, 1.0, wv[e]); }
    }`)}
  let tot = sumAll(acc, lid);
  let atT = u32(tot.z);
  var need = 0u;
  if (atT > 0u && tot.y < goal) { need = clamp(u32(ceil((goal - tot.y) / (tot.w / tot.z))), 1u, atT); }` : `let keepAll = u.topK >= cEnd;
  if (keepAll) { top = 0u; }
  // the scores' own range in 256 even buckets first (a key's top bits are its sign and exponent:
  // a row of similar scores piles into a few bins, and their atomics serialise); the buckets are
  // monotone in the score, so t lies in the bucket where the count from the top reaches K, and the
  // passes below go on among its keys only ([fLo, fHi])
  var more = 0u;
  var atT = cEnd;
  var fLo = range.x;
  var fHi = range.y;
  if (top > 8u) {
    let sLo = scoreOf(vec4<u32>(range.x)).x;
    let spread = scoreOf(vec4<u32>(range.y)).x - sLo;
    let bs = select(0.0, 256.0 / spread, spread > 0.0 && spread <= 3.0e38);
    atomicStore(&hist[lid], 0u);
    workgroupBarrier();
    ${this.eachChunk(`let bk = bucketOf(kv, sLo, bs);
    for (var e = 0u; e < ${PER}u; e++) {
      if (ok[e]) { atomicAdd(&hist[bk[e]], 1u); }
    }`)}
    let pick = findDigit(0u, lid);
    more = pick.y;
    atT = pick.z;
    if (pick.z <= WG) {
      // a bucket of at most WG keys: gathered, and t is the key whose count of larger keys in it
      // leaves it the (K − more)-th (the first of equal keys says so)
      if (lid == 0u) { atomicStore(&gathered, 0u); }
      workgroupBarrier();
      ${this.eachChunk(`let inside = ok & (bucketOf(kv, sLo, bs) == vec4<u32>(pick.x));
      for (var e = 0u; e < ${PER}u; e++) {
        if (inside[e]) { bucketKeys[atomicAdd(&gathered, 1u)] = kv[e]; }
      }`)}
      workgroupBarrier();
      if (lid < pick.z) {
        let x = bucketKeys[lid];
        var larger = 0u;
        var equal = 0u;
        var first = true;
        for (var j = 0u; j < pick.z; j++) {
          let y = bucketKeys[j];
          if (y > x) { larger++; }
          if (y == x) { equal++; if (j < lid) { first = false; } }
        }
        let want = u.topK - more;
        if (first && larger < want && larger + equal >= want) { chosen = vec3<u32>(x, more + larger, equal); }
      }
      let found = workgroupUniformLoad(&chosen);
      t = found.x;
      more = found.y;
      atT = found.z;
      top = 0u;
    } else {
      ${this.keyBounds('inBucket', 'ok & (bucketOf(kv, sLo, bs) == vec4<u32>(pick.x))')}
      fLo = inBucket.x;
      fHi = inBucket.y;
      top = bitsBelowShared(inBucket);
      t = sharedBits(fLo, top);
    }
  }
  // 8 bits a pass: the largest digit whose keys, with those above them (more), reach K
  loop {
    if (top == 0u) { break; }
    let width = min(8u, top);
    let shift = top - width;
    atomicStore(&hist[lid], 0u);
    workgroupBarrier();
    ${this.eachChunk(`for (var e = 0u; e < ${PER}u; e++) {
      if (ok[e] && kv[e] >= fLo && kv[e] <= fHi && above(kv[e], top) == above(t, top)) { atomicAdd(&hist[(kv[e] >> shift) & ((1u << width) - 1u)], 1u); }
    }`)}
    let pick = findDigit(more, lid);
    t = t | (pick.x << shift);
    more = pick.y;
    atT = pick.z;
    top = shift;
  }
  let need = select(min(atT, u.topK - min(u.topK, more)), atT, keepAll);`}
  // a held layout's words are [B·H, rows, words] (the window's rows among zeros); else [span] per (b, h)
  let outBase = ${this.counts ? '(bh * u.rows + r) * u.words' : 'u.outOff + (bhl * u.span + i) * u.words'};
  // ties split (fewer needed than there are at t): ranks in column order, chunk by chunk
  let split = !keepAll && need < atT;
  var seen = 0u;
  var kept = 0u;
  ${this.eachChunk(`var pick = ok & (vec4<bool>(keepAll) | (kv > vec4<u32>(t)) | ((kv == vec4<u32>(t)) & vec4<bool>(!split)));
    if (split) {
      let eq = ok & (kv == vec4<u32>(t));
      let n = dot(select(vec4<u32>(0u), vec4<u32>(1u), eq), vec4<u32>(1u));
      let sc = exclusiveScan(n, lid);
      var rank = seen + sc.x;
      for (var e = 0u; e < ${PER}u; e++) {
        if (eq[e]) { pick[e] = rank < need; rank++; }
      }
      seen += sc.y;
    }
    let cv = vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u);
    pick = pick | (ok & ((vec4<bool>(u.keepDiagonal == 1u) & (cv == vec4<u32>(r))) | (cv < vec4<u32>(u.keepFirst)) | ((cv < vec4<u32>(r)) & (cv + vec4<u32>(u.keepLocal) >= vec4<u32>(r)))));
    let w = c0 / ${PER}u;
    let word = dot(select(vec4<u32>(0u), vec4<u32>(1u, 256u, 65536u, 16777216u), pick), vec4<u32>(1u));
    if (w < u.words) { out[outBase + w] = bitcast<i32>(word); }
    kept += countOneBits(word);`, true)}
  ${this.counts ? `let rowKept = exclusiveScan(kept, lid).y;
  if (lid == 0u) { ptr[bh * u.rows + r + 1u] = i32(rowKept); }` : ''}
}
`;
  }
}
