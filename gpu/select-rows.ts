// The selection of engine.selectBlocks on WebGPU: one workgroup per (b, h, block row r) of a window
// of rows (those holding a query: a decode step's is one row) picks that row's blocks from its
// pooled scores s[c] (select-blocks.ts computes them) and writes the row's layout bytes, four to a
// u32 word. The allowed columns are a prefix [0, cEnd) (c ≤ r with causal, c·block < keyLengths[b]).
//
// Both rules are "the largest key t whose set {c: key(s_c) ≥ t} reaches a goal": topK counts the
// set (goal K), threshold sums its softmax mass exp(s_c − max) (goal τ·Z). key() maps the f32
// scores onto u32 in order. Under a threshold t is found two bits at a time from the top (16
// passes, each one workgroup sum of three candidate sets); under topK a byte at a time (4 passes,
// each a histogram of the next byte in workgroup atomics over the keys sharing t's bytes above it,
// then one scan: a third of the barriers). A radix select rather than a sort: a row of C = 2048+
// scores does not fit a workgroup's memory as (score, index) pairs, the passes read the row in
// place whatever C is, and the mass of a set is a plain sum. The mass sums keep one order (each
// thread's columns in turn, then one tree), so the set of every allowed column sums to Z exactly
// and the search stays monotone. Columns whose key equals t are taken lowest c first, as many as
// the goal still needs. τ = 1 skips the search: every allowed block.
import { Program, type BindingSpec } from './program.js';

/** Threads per row: 256, one per byte value in the topK rule's histogram passes. */
export const SELECT_WG = 256;

export class SelectRowsProgram extends Program {
  readonly name = 'SelectRowsProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 's', access: 'read', elem: 'f32' },
    { name: 'pos', access: 'read', elem: 'i32' },
    { name: 'out', access: 'read_write', elem: 'i32' },
  ];
  readonly uniforms = [
    ['heads', 'u32'],
    ['nq', 'u32'],
    /** Layout rows and columns; rows and columns of the score buffer per (b, h) (padded to its tiles). */
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

  constructor(
    readonly block: number,
    readonly rule: 'topK' | 'threshold',
  ) {
    super();
    this.shaderKey = `b${block}/${rule}/wg${SELECT_WG}`;
  }

  body(): string {
    const mass = this.rule === 'threshold';
    return `
const BLK = ${this.block}u;
const WG = ${SELECT_WG}u;
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> scan: array<u32, WG>;
var<workgroup> words: array<atomic<u32>, ${SELECT_WG / 4}>;
${mass ? '' : `var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> best: atomic<u32>;
var<workgroup> chosen: vec2<u32>;`}

/** The order of the f32 scores on u32 (−0 as +0, so that equal scores have equal keys). */
fn keyOf(s: f32) -> u32 {
  let bits = bitcast<u32>(select(s, 0.0, s == 0.0));
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

fn sumAll(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red[lid] = v;
  for (var off = WG / 2u; off > 0u; off = off / 2u) {
    workgroupBarrier();
    if (lid < off) { red[lid] = red[lid] + red[lid + off]; }
  }
  let r = workgroupUniformLoad(&red[0]);
  workgroupBarrier();
  return r;
}

fn maxAll(v: f32, lid: u32) -> f32 {
  red[lid] = vec4<f32>(v);
  for (var off = WG / 2u; off > 0u; off = off / 2u) {
    workgroupBarrier();
    if (lid < off) { red[lid] = max(red[lid], red[lid + off]); }
  }
  let r = workgroupUniformLoad(&red[0]);
  workgroupBarrier();
  return r.x;
}

/** Exclusive prefix sum of flag over the workgroup (lid order), and the total in .y. */
fn scanAll(flag: u32, lid: u32) -> vec2<u32> {
  scan[lid] = flag;
  for (var off = 1u; off < WG; off = off * 2u) {
    workgroupBarrier();
    let add = select(0u, scan[lid - off], lid >= off);
    workgroupBarrier();
    scan[lid] = scan[lid] + add;
  }
  workgroupBarrier();
  let incl = scan[lid];
  let total = workgroupUniformLoad(&scan[WG - 1u]);
  workgroupBarrier();
  return vec2<u32>(incl - flag, total);
}

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
  ${
    mass
      ? `var m = -3.0e38;
  for (var c = lid; c < cEnd; c += WG) { m = max(m, s[sBase + c]); }
  let mx = maxAll(m, lid);
  var z = 0.0;
  for (var c = lid; c < cEnd; c += WG) { z = z + exp(s[sBase + c] - mx); }
  let goal = u.threshold * sumAll(vec4<f32>(z, 0.0, 0.0, 0.0), lid).x;`
      : `let goal = f32(u.topK);`
  }
  var t = 0u;
  ${mass ? '' : `// topK: t's bytes from the top, one histogram of the next byte per pass over the keys that share
  // t's bytes above it; the pass keeps the largest byte whose keys at or above it, with those above
  // t's prefix (above), still reach the goal (the same t as the mass rule's two bits a pass, in 4 passes)
  var above = 0u;
  for (var p = 0u; p < 4u; p++) {
    let shift = 24u - 8u * p;
    atomicStore(&hist[lid], 0u);
    if (lid == 0u) { atomicStore(&best, 0u); }
    workgroupBarrier();
    for (var c = lid; c < cEnd; c += WG) {
      let key = keyOf(s[sBase + c]);
      if (p == 0u || (key >> (shift + 8u)) == (t >> (shift + 8u))) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    // thread lid holds byte d = 255 − lid: the scan gives the keys of a larger byte
    let d = 255u - lid;
    let n = atomicLoad(&hist[d]);
    let larger = scanAll(n, lid).x;
    if (f32(above + larger + n) >= goal) { atomicMax(&best, d); }
    workgroupBarrier();
    // none reaching it (fewer allowed blocks than topK): byte 0, and t = 0 keeps them all
    if (d == atomicLoad(&best)) { chosen = vec2<u32>(d, above + larger); }
    let pick = workgroupUniformLoad(&chosen);
    t = t | (pick.x << shift);
    above = pick.y;
  }`}
  ${mass ? `// τ = 1 keeps every allowed block, those whose mass rounds to nothing included (t = 0: all)
  for (var shift = select(-2i, 30i, u.threshold < 1.0); shift >= 0i; shift -= 2i) {
    let c1 = t | (1u << u32(shift));
    let c2 = t | (2u << u32(shift));
    let c3 = t | (3u << u32(shift));
    var acc = vec4<f32>(0.0);
    for (var c = lid; c < cEnd; c += WG) {
      let sv = s[sBase + c];
      let key = keyOf(sv);
      let w = exp(sv - mx);
      acc = acc + select(vec4<f32>(0.0), vec4<f32>(w), vec4<bool>(key >= c1, key >= c2, key >= c3, false));
    }
    let reach = sumAll(acc, lid);
    if (reach.z >= goal) { t = c3; } else if (reach.y >= goal) { t = c2; } else if (reach.x >= goal) { t = c1; }
  }` : ''}
  // the columns above t, and those at t (equal scores), in count and weight
  var acc = vec4<f32>(0.0);
  for (var c = lid; c < cEnd; c += WG) {
    let sv = s[sBase + c];
    let key = keyOf(sv);
    let w = ${mass ? 'exp(sv - mx)' : '1.0'};
    if (key > t) { acc = acc + vec4<f32>(1.0, w, 0.0, 0.0); }
    if (key == t) { acc = acc + vec4<f32>(0.0, 0.0, 1.0, w); }
  }
  let tot = sumAll(acc, lid);
  let atT = u32(tot.z);
  ${
    mass
      ? `var need = 0u;
  if (atT > 0u && tot.y < goal) { need = clamp(u32(ceil((goal - tot.y) / (tot.w / tot.z))), 1u, atT); }`
      : `let need = min(atT, u.topK - min(u.topK, u32(tot.x)));`
  }
  let outBase = u.outOff + (bhl * u.span + i) * u.words;
  var seen = 0u;
  for (var c0 = 0u; c0 < cEnd; c0 += WG) {
    let c = c0 + lid;
    var key = 0u;
    if (c < cEnd) { key = keyOf(s[sBase + c]); }
    var pick = c < cEnd && key > t;
    if (need == atT) {
      pick = pick || (c < cEnd && key == t);
    } else {
      let eq = u32(c < cEnd && key == t);
      let sc = scanAll(eq, lid);
      pick = pick || (eq == 1u && seen + sc.x < need);
      seen += sc.y;
    }
    if (c < cEnd) {
      pick = pick || (u.keepDiagonal == 1u && c == r) || c < u.keepFirst || (c < r && c + u.keepLocal >= r);
    }
    if (lid < WG / 4u) { atomicStore(&words[lid], 0u); }
    workgroupBarrier();
    if (pick) { atomicOr(&words[lid / 4u], 1u << (8u * (lid % 4u))); }
    workgroupBarrier();
    let w = c0 / 4u + lid;
    if (lid < WG / 4u && w < u.words) { out[outBase + w] = bitcast<i32>(atomicLoad(&words[lid])); }
    workgroupBarrier();
  }
}
`;
  }
}
