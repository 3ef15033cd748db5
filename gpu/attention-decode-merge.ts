// The second pass of split-KV attention (attention-decode.ts): each query row's chunks, each a
// normalised output and its log-sum-exp, merged by weight exp(lse_c − max lse) into the row's
// output and lse. A row no chunk reached gets zeros and the MASKED lse (−∞ once read back).
import { MASKED, THRESH } from './buffers.js';
import { Program, type BindingSpec } from './program.js';

export const DECODE_MERGE_WG = 64;

export class AttentionDecodeMergeProgram extends Program {
  readonly name = 'AttentionDecodeMergeProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'po', access: 'read', elem: 'vec4<f32>' },
    { name: 'pl', access: 'read', elem: 'f32' },
    { name: 'out', access: 'read_write', elem: 'vec4<f32>' },
    { name: 'stats', access: 'read_write', elem: 'f32' },
  ];
  readonly uniforms = [
    ['chunks', 'u32'],
    ['d4', 'u32'],
  ] as const;
  readonly workgroupSize = DECODE_MERGE_WG;
  readonly shaderKey = '';

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
    out[row * u.d4 + cv] = acc * inv;
  }
  if (lid == 0u) { stats[row] = select(mx + log(max(wsum, 1e-30)), MASKED, empty); }
}
`;
  }
}
