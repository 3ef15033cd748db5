// Every Wasm export the host calls, with its parameters in order, named as in assembly/
// (tfjs-backend-wasm's habit: each kernel is bound once, by name). Call sites build named
// arguments, type-checked against this table; positionalArgs turns them into the export's
// positional call, once per task, where the runners send or run the task (pool/runner.ts).
// test/kernels.test.ts checks the table against each build's exports and assembly/'s names.
import { internal, PREFIX } from '../errors.js';

export const kernelParameters = {
  // assembly/attention-forward.ts
  attentionForward: [
    'q', 'k', 'v', 'out', 'lse', 'rpe', 'kpm', 'am',
    'kvPtr', 'kvIndices', 'qOffset', 'Bl', 'Hl',
    'H', 'Hkv', 'N', 'Nk', 'kvStride', 'D', 'block', 'R', 'causal', 'scale',
    'hg', 'itemBegin', 'itemEnd', 'scratch',
  ],
  // assembly/attention-decode.ts
  attentionDecode: [
    'q', 'k', 'v', 'out', 'lse', 'rpe', 'kpm', 'am',
    'kvIndices', 'qOffset', 'items', 'partials',
    'H', 'Hkv', 'N', 'Nk', 'kvStride', 'D', 'block', 'causal', 'scale',
    'itemBegin', 'itemEnd', 'scratch',
  ],
  attentionDecodeMerge: ['out', 'lse', 'qOffset', 'merges', 'partials', 'H', 'N', 'D', 'block', 'mergeBegin', 'mergeEnd'],
  // assembly/decode-selected.ts: its parameters are words at `params` (src/cpu/decode-selected.ts)
  decodeSelected: ['params', 'itemBegin', 'itemEnd', 'scratch'],
  // assembly/attention-backward.ts
  attentionBackwardHeads: [
    'q', 'k', 'v', 'dout', 'dq', 'dk', 'dv', 'rpe', 'kpm', 'am',
    'kvPtr', 'kvIndices', 'qPtr', 'qIndices', 'qEntries', 'qOffset', 'Bl', 'Hl',
    'order', 'readyPtr', 'readyBatches', 'slots', 'slotsPerHead', 'slotBase',
    'H', 'Hkv', 'N', 'Nk', 'D', 'block', 'R', 'C', 'causal', 'scale',
    'kvBegin', 'kvEnd', 'scratch',
  ],
  attentionBackwardRows: [
    'q', 'k', 'v', 'dout', 'dq', 'rpe', 'kpm', 'am',
    'kvPtr', 'kvIndices', 'qOffset', 'Bl', 'Hl',
    'pSlots', 'dsSlots', 'slotBase', 'bh0',
    'H', 'Hkv', 'N', 'Nk', 'D', 'block', 'R', 'causal', 'scale',
    'itemBegin', 'itemEnd', 'scratch',
  ],
  attentionBackwardColumns: [
    'q', 'dout', 'dk', 'dv',
    'kvPtr', 'qPtr', 'qIndices', 'qEntries', 'qOffset', 'Bl', 'Hl',
    'pSlots', 'dsSlots', 'slotBase', 'bh0', 'bh1',
    'H', 'Hkv', 'N', 'Nk', 'D', 'block', 'R', 'C', 'causal',
    'itemBegin', 'itemEnd',
  ],
  // assembly/tiles.ts: bench/cpu-attention.ts's yardsticks, bench/cpu-scaling.ts
  matmulCeiling: ['a', 'b', 'c', 'M', 'N', 'K', 'reps'],
  fmaPeak: ['iters'],
  // assembly/gemm.ts, sdd.ts, dsd.ts, dds.ts
  matmulPack: ['src', 'dst', 'groups', 'G', 'K', 'pStride', 'kStride', 'W', 'srcStride', 'begin', 'end'],
  sdd: ['aPacked', 'bPacked', 'c', 'kvPtr', 'kvIndices', 'H', 'R', 'C', 'nnz', 'blk', 'K', 'kc', 'begin', 'end', 'tmp'],
  dsd: ['a', 'bPacked', 'c', 'ptr', 'idx', 'ent', 'H', 'Ro', 'nnz', 'blk', 'K', 'N', 'transA', 'begin', 'end', 'scratch'],
  dds: ['aPacked', 'b', 'c', 'ptr', 'idx', 'ent', 'H', 'Co', 'nnz', 'blk', 'M', 'K', 'transB', 'begin', 'end', 'scratch'],
  // assembly/sparse-softmax.ts
  softmaxForward: [
    'x', 'kvPtr', 'kvIndices', 'causalKind', 'H', 'R', 'nnz', 'blk', 'scale',
    'rpe', 'kpm', 'am', 'causal', 'begin', 'end',
  ],
  softmaxBackward: ['y', 'dy', 'kvPtr', 'H', 'R', 'nnz', 'blk', 'scale', 'begin', 'end'],
  // assembly/block-pooling.ts, block-selection.ts
  poolBlocks: ['src', 'mean', 'lo', 'hi', 'shift', 'limit', 'heads', 'rows', 'D', 'block', 'blocks', 'jFirst', 'jCount', 'itemBegin', 'itemEnd'],
  selectBlockRows: [
    'qp', 'kp', 'kLo', 'kHi', 'out', 'items', 'qOffset', 'keyLengths',
    'Hq', 'Hkv', 'Nq', 'R', 'C', 'kBlocks', 'D', 'block', 'causal', 'bound', 'scale',
    'topK', 'threshold', 'keepDiagonal', 'keepFirst', 'keepLocal',
    'itemBegin', 'itemEnd', 'scratch',
  ],
  // assembly/diagnostics.ts: the pool's tests (diagnosticFill is tiles.ts's fillF32)
  diagnosticFill: ['p', 'count', 'value'],
  diagnosticTrap: [],
  diagnosticSpin: ['iterations'],
} as const satisfies Record<string, readonly string[]>;

export type KernelName = keyof typeof kernelParameters;

/**
 * One call's arguments to export K, by parameter name: byte offsets, counts, floats; a bool
 * parameter takes 0 or 1.
 */
export type KernelArgs<K extends KernelName> = { readonly [P in (typeof kernelParameters)[K][number]]: number };

/**
 * The positional arguments of one call of `kernel`, in its parameters' order. Throws for a kernel
 * not in the table or an argument that is not a number (Wasm would read a missing one as 0).
 */
export function positionalArgs<K extends KernelName>(kernel: K, args: KernelArgs<K>): number[] {
  if (!Object.prototype.hasOwnProperty.call(kernelParameters, kernel)) {
    throw internal(`no kernel export '${kernel}'`);
  }
  const names: readonly string[] = kernelParameters[kernel];
  const named = args as Readonly<Record<string, unknown>>;
  const values: number[] = [];
  for (const name of names) {
    const value = named[name];
    if (typeof value !== 'number') {
      throw new TypeError(`${PREFIX}internal: kernel '${kernel}' argument '${name}' is ${value === undefined ? 'missing' : `a ${typeof value}`}`);
    }
    values.push(value);
  }
  return values;
}
