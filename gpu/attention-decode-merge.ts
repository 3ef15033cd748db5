// The second pass of split-KV attention (attention-decode.ts): each query row's chunks, each a
// normalised output and its log-sum-exp, merged by weight exp(lse_c − max lse) into the row's
// output and lse. A row no chunk reached gets zeros and the MASKED lse (−∞ once read back).
import { stored, vec4Elem } from './attention-common.js';
import { MASKED, THRESH } from './buffers.js';
import { Program, type BindingSpec } from './program.js';

export const DECODE_MERGE_WG = 64;

/** `half`: out in f16 (half-float operands). */
export class AttentionDecodeMergeProgram extends Program {
  readonly name = 'AttentionDecodeMergeProgram';
  readonly bindings: readonly BindingSpec[];
  override readonly half: boolean;
  readonly shaderKey: string;

  constructor(half = false) {
    super();
    this.half = half;
    this.shaderKey = half ? 'f16' : '';
    this.bindings = [
      { name: 'po', access: 'read', elem: 'vec4<f32>' },
      { name: 'pl', access: 'read', elem: 'f32' },
      { name: 'out', access: 'read_write', elem: vec4Elem(half) },
      { name: 'stats', access: 'read_write', elem: 'f32' },
    ];
  }
  readonly uniforms = [
    ['chunks', 'u32'],
    ['d4', 'u32'],
  ] as const;
  readonly workgroupSize = DECODE_MERGE_WG;

  body(): string {
    return `
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};

fn run(wg: u32, lid: u32) {
  let row = wg;
  let first = row * u.chunks;
  var mx = MASKED;
  for (var c = 0u; c < u.chunks; c++) { mx = max(mx, pl[first + c]); }
  var wsum = 0.0;
  for (var c = 0u; c < u.chunks; c++) {
    let x = pl[first + c];
    wsum = wsum + select(0.0, exp(x - mx), x > THRESH);
  }
  let empty = !(mx > THRESH);
  let inv = select(1.0 / max(wsum, 1e-30), 0.0, empty);
  for (var cv = lid; cv < u.d4; cv += ${DECODE_MERGE_WG}u) {
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < u.chunks; c++) {
      let x = pl[first + c];
      if (x > THRESH) { acc = fma(vec4<f32>(exp(x - mx)), po[(first + c) * u.d4 + cv], acc); }
    }
    out[row * u.d4 + cv] = ${stored('acc * inv', this.half)};
  }
  if (lid == 0u) { stats[row] = select(mx + log(max(wsum, 1e-30)), MASKED, empty); }
}
`;
  }
}
