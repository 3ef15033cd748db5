// What every matrix-unit program shares (WGSL's experimental subgroup matrices,
// `chromium-experimental-subgroup-matrix`): the enables, the subgroup's index in its workgroup for
// run(), the 16×16 f16 → f32 matrix types, and how a subgroup's lanes hold the rows of a 16-row
// tile once a result matrix has gone through workgroup memory.
import type { GpuContext } from './context.js';
import { Program } from './program.js';

export const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
export const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
export const RESULT = 'subgroup_matrix_result<f32, 16, 16>';

/** What bounds a matrix-unit workgroup on a device: its workgroup memory (bytes), its threads, and the lanes of a subgroup. */
export interface MmaLimits {
  readonly bytes: number;
  readonly invocations: number;
  readonly lanes: number;
}

export const mmaLimits = (ctx: GpuContext): MmaLimits => ({
  bytes: ctx.limits.maxComputeWorkgroupStorageSize,
  invocations: ctx.limits.maxComputeInvocationsPerWorkgroup,
  lanes: ctx.subgroupSize,
});

/** Workgroup-memory row stride padding (4-byte words): keeps rows 16-byte aligned, spreads the lanes' rows over banks. */
export const PAD = 4;

export abstract class MmaProgram extends Program {
  override readonly subgroups = true;

  override source(): string {
    // subgroup_id: each subgroup's slice of workgroup memory (the matrix builtins' offsets must be subgroup-uniform)
    const src = super
      .source()
      .replace('@builtin(subgroup_invocation_id) sgid: u32', '@builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_id) sgi: u32')
      .replace('run(wg, lid, sgid);', 'run(wg, lid, sgid, sgi);');
    return `enable f16;\nenable chromium_experimental_subgroup_matrix;\n${src}`;
  }
}

/** 0 … n−1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** f(0) … f(n−1) joined. */
export const each = (n: number, f: (i: number) => string, sep = '\n'): string => range(n).map(f).join(sep);

/**
 * WGSL: the workgroup's threads copy `rows` rows of D halves of two vec4<f16> operands `src`, from
 * element `base` on, into the workgroup arrays `dst` at row stride `stride`, then wait at a barrier
 * (a staged step's K and V, or Q and dO, shared by the workgroup's subgroups).
 */
export function stageTiles(
  dst: readonly [string, string], src: readonly [string, string], base: string,
  rows: number, D: number, threads: number, stride: string, names: readonly [string, string] = ['x', 'y'],
  /** WGSL: where in `dst` the tiles start (a double buffer's half). */
  dstBase = '',
): string {
  const lanes = ['x', 'y', 'z', 'w'];
  const spread = (to: string, from: string) => lanes.map((c, i) => `${to}[${dstBase ? `${dstBase} + ` : ''}o${i ? ` + ${i}u` : ''}] = ${from}.${c};`).join(' ');
  return `      for (var i = lid; i < ${(rows * D) / 4}u; i += ${threads}u) {
        let o = (i / ${D / 4}u) * ${stride} + (i % ${D / 4}u) * 4u;
        let ${names[0]} = ${src[0]}[${base} / 4u + i];
        let ${names[1]} = ${src[1]}[${base} / 4u + i];
        ${spread(dst[0], names[0])}
        ${spread(dst[1], names[1])}
      }
      workgroupBarrier();`;
}
